/**
 * The edge's metrics (abuse limits, failed-auth throttling, privacy drops,
 * plain-HTTP exposure, secrets refresh), registered on the same registry and
 * in the same way as metrics.ts: values live in plain counters at their
 * source and are read at scrape time, so the hot path pays nothing. Labels
 * are small fixed sets, never a tenant, a key or an IP.
 */
import type { Registry } from 'prom-client';
import { gauge, labelledMirror as labelled, mirroredCounter as mirror } from './metrics.ts';
import type { SecretsStatus } from '../secrets/aws-secrets.ts';

export interface EdgeMetricSources {
  rateLimited: () => { ip: number; key: number };
  /** Seconds the longest-refused tenant has been refused by its per-key limit without a break (0: nobody is). */
  longestRateLimitedSeconds: () => number;
  /** Cool-downs started, and requests refused during one, by scope. */
  authThrottle: () => { ipEngaged: number; keyEngaged: number; ipRefused: number; keyRefused: number };
  argon2Verifications: () => number;
  droppedByPolicy: () => Readonly<Record<string, number>>;
  botsFlagged: () => number;
  plainHttp: () => Readonly<Record<string, number>>;
  exposedKeys: () => Readonly<Record<string, number>>;
  autoRevoked: () => number;
  connectionsRefused: () => number;
  secrets: () => SecretsStatus;
}

export function registerEdgeMetrics(registry: Registry, src: EdgeMetricSources): void {
  labelled(registry, 'palisade_rate_limited_total', 'Requests refused 429 by a token bucket, by limit (ip: per client IP before auth; key: per key, in events).', 'limit', () => src.rateLimited());
  gauge(
    registry,
    'palisade_rate_limited_longest_streak_seconds',
    "How long one tenant has been refused by its per-key limit without a minute's break, for the tenant refused longest (0: none). No tenant label; `palisade doctor` names it.",
    src.longestRateLimitedSeconds,
  );
  labelled(registry, 'palisade_auth_throttle_engaged_total', 'Failed-auth cool-downs started, by scope (ip or key). Each is also in the audit log.', 'scope', () => {
    const t = src.authThrottle();
    return { ip: t.ipEngaged, key: t.keyEngaged };
  });
  labelled(registry, 'palisade_auth_throttled_requests_total', 'Authentication attempts refused during a cool-down without running argon2, by scope.', 'scope', () => {
    const t = src.authThrottle();
    return { ip: t.ipRefused, key: t.keyRefused };
  });
  mirror(registry, 'palisade_auth_argon2_verifications_total', 'argon2id verifications run (cache misses that reached the hash).', src.argon2Verifications);
  labelled(registry, 'palisade_events_dropped_by_policy_total', "Events discarded by their tenant's own policy, by reason (consent, dnt, bot). Not errors.", 'reason', src.droppedByPolicy);
  mirror(registry, 'palisade_events_flagged_bot_total', 'Events stored with is_bot = 1.', src.botsFlagged);
  labelled(registry, 'palisade_plain_http_requests_total', 'Requests refused for arriving over plain HTTP, by what they carried (credential, redirect, refused).', 'outcome', src.plainHttp);
  labelled(registry, 'palisade_keys_exposed_total', 'Secret keys proven to have been sent over plain HTTP, by channel. Page: the key is leaked.', 'channel', src.exposedKeys);
  mirror(registry, 'palisade_keys_auto_revoked_total', 'Exposed keys revoked at once because their tenant opted in (revokeOnPlainHttp).', src.autoRevoked);
  mirror(registry, 'palisade_connections_refused_total', 'Connections closed at once because their IP already held PALISADE_MAX_CONNECTIONS_PER_IP.', src.connectionsRefused);
  mirror(registry, 'palisade_secrets_refresh_failures_total', 'Failed fetches of the service secrets after start (the last good value stays in use).', () => src.secrets().refreshFailures);
  mirror(registry, 'palisade_secrets_rotations_total', 'Rotated service secrets picked up without a restart.', () => src.secrets().rotations);
  gauge(registry, 'palisade_secrets_consecutive_refresh_failures', 'Secrets refreshes failed in a row (0 after a success). Alert when it stays above 0.', () => src.secrets().consecutiveFailures);
  gauge(registry, 'palisade_secrets_last_success_timestamp_seconds', 'When the service secrets were last read successfully (unix seconds).', () => src.secrets().lastSuccessAt / 1000);
}
