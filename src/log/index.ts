/**
 * Structured JSON logs (pino). Logs carry metadata only: request id, tenant id,
 * key id, route, status, duration. Event payloads never reach a log call, and
 * as a second line of defence any field whose name looks like a credential is
 * redacted wherever it appears.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

const SECRET_KEYS = ['authorization', 'secret', 'token', 'password', 'cookie', 'writeKey', 'adminToken', 'key_hex'];

export function redactPaths(): string[] {
  const paths: string[] = [];
  for (const k of SECRET_KEYS) paths.push(k, `*.${k}`, `*.*.${k}`);
  return paths;
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'palisade' },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
