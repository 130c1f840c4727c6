/**
 * The shape every ingest step returns (PostHog's `ok | drop`): a step never
 * throws for bad input, it says why it dropped the event with a stable code
 * and a message written for the customer.
 */
export type Result<T> = { ok: true; value: T } | { ok: false; code: RejectionCode; message: string };

/** Why one event was dropped. Shown to the caller with the event's index. */
export const RejectionCode = {
  INVALID_EVENT: 'invalid_event',
  EVENT_TOO_LARGE: 'event_too_large',
  INVALID_TIMESTAMP: 'invalid_timestamp',
  FORBIDDEN_KEY: 'forbidden_key',
  TOO_DEEP: 'too_deep',
  TOO_MANY_PROPERTIES: 'too_many_properties',
  DUPLICATE_PROPERTY_PATH: 'duplicate_property_path',
  INVALID_KEY: 'invalid_key',
} as const;
export type RejectionCode = (typeof RejectionCode)[keyof typeof RejectionCode];

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

export function fail<T = never>(code: RejectionCode, message: string): Result<T> {
  return { ok: false, code, message };
}

// Field names in messages come from the payload, so they are shown only when
// they are short and boring; anything else could smuggle markup, control
// characters or customer data into logs and the warnings ledger.
const SHOWABLE_NAME = /^[A-Za-z0-9_$.-]{1,64}$/;

export function showName(name: string): string | undefined {
  return SHOWABLE_NAME.test(name) ? name : undefined;
}
