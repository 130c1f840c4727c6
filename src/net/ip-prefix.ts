/**
 * IP address prefixes: the network part of an address, for truncation
 * (privacy: IPv4 /24, IPv6 /48) and for keying per-client limits (IPv6 /64,
 * because one subscriber is routinely handed a whole /64 and could otherwise
 * rotate through 2^64 addresses to dodge a per-address limit).
 */
import { isIP } from 'node:net';

/** The eight hextets of an IPv6 address (an embedded IPv4 tail becomes two). */
function hextets(ip: string): number[] | undefined {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4?.[1]) {
    const o = v4[1].split('.').map(Number);
    s = `${s.slice(0, -v4[1].length)}${(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16)}:${(((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const parts = [...head, ...Array.from({ length: fill }, () => '0'), ...tail];
  if (parts.length !== 8) return undefined;
  const out = parts.map((p) => Number.parseInt(p, 16));
  return out.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff) ? out : undefined;
}

/** `a.b.c.d` → `a.b.c.0` for /24; IPv6 → its first `bits/16` hextets followed by `::`. */
export function ipPrefix(ip: string, v4Bits: 8 | 16 | 24 | 32, v6Bits: 16 | 32 | 48 | 64 | 128): string {
  const family = isIP(ip);
  if (family === 4) {
    const o = ip.split('.');
    const keep = v4Bits / 8;
    return o.map((x, i) => (i < keep ? x : '0')).join('.');
  }
  if (family === 6) {
    const h = hextets(ip);
    if (!h) return '';
    if (v6Bits === 128) return h.map((x) => x.toString(16)).join(':');
    return `${h.slice(0, v6Bits / 16).map((x) => x.toString(16)).join(':')}::`;
  }
  return '';
}

/** What one client is, for per-client limits: the IPv4 address, or the IPv6 /64. */
export function clientKey(ip: string): string {
  return isIP(ip) === 6 ? ipPrefix(ip, 32, 64) : ip;
}
