/**
 * What a listener grants one connection, and one client IP: slow or oversized
 * requests and connection floods must not hold the edge's sockets.
 *
 * TLS follows Mozilla's "intermediate" profile (ssl-config.mozilla.org,
 * version 5.7): TLS 1.2 and 1.3 only; for TLS 1.2, ECDHE key exchange with an
 * AEAD cipher (AES-GCM, ChaCha20-Poly1305) and nothing else: no CBC, no RSA
 * key exchange, no DHE. Mozilla lets the client choose among these (all are
 * strong, and a phone without AES hardware rightly prefers ChaCha20), so
 * honorCipherOrder is false.
 *
 * Slow clients: headers must arrive within headersTimeoutMs (checked every
 * second, not Node's default 30 s), the whole request within
 * requestTimeoutMs, and the TLS handshake within 10 s. Headers over
 * maxHeaderBytes get 431 from Node's parser. One IP may hold at most
 * maxConnectionsPerIp sockets; past that a new one is closed at once.
 */
import type { Server as HttpServer } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';

export const TLS_CIPHERS = [
  // TLS 1.3 (always AEAD, always ephemeral key exchange).
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  // TLS 1.2: ECDHE + AEAD only.
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TLS_OPTIONS = {
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_CIPHERS,
  honorCipherOrder: false,
  ecdhCurve: 'X25519:prime256v1:secp384r1',
  // A client that opens a socket and never finishes the handshake is cut after 10 s (Node's default is 120 s).
  handshakeTimeout: 10_000,
} as const;

export interface ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxHeaderBytes: number;
  maxConnectionsPerIp: number;
  /** A connection closed at once because its IP already holds the maximum. */
  onRefused?: () => void;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  // 10 s to send headers, 30 s for the whole request: generous for a 500 KB
  // body on a slow mobile link, short enough to shed a slowloris.
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxHeaderBytes: 16 * 1024,
  maxConnectionsPerIp: 256,
};

/** Options for http(s).createServer. */
export function serverOptions(l: ConnectionLimits) {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: 5_000,
    maxHeaderSize: l.maxHeaderBytes,
    // How often Node checks the two timeouts above; its default (30 s) would let a slowloris hold a socket 40 s.
    connectionsCheckingInterval: 1_000,
  };
}

function peerOf(socket: Socket): string {
  const ip = socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}

/**
 * Counts raw TCP connections per peer address (before TLS, so a client that
 * never finishes a handshake counts too). Behind a load balancer every
 * connection comes from its address: raise the cap there (docs/hardening.md).
 */
export function capConnectionsPerIp(server: NetServer | HttpServer, l: ConnectionLimits): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const ip = peerOf(socket);
    const n = open.get(ip) ?? 0;
    if (n >= l.maxConnectionsPerIp) {
      l.onRefused?.();
      socket.destroy();
      return;
    }
    open.set(ip, n + 1);
    socket.once('close', () => {
      const left = (open.get(ip) ?? 1) - 1;
      if (left <= 0) open.delete(ip);
      else open.set(ip, left);
    });
  });
}
