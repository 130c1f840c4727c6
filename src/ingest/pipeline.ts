/**
 * Steps 4-6 of the data flow (docs/architecture.md) as pure functions: validate, sanitise, enrich. Each
 * step returns ok(value) or a reason to drop the event; `ingestBody` runs them
 * for every event of a request and throws only for whole-request problems.
 *
 * Tenant isolation lives here as much as anywhere: tenant_id, key_id, ip and
 * received_at come from the authenticated request (IngestContext), never
 * from the payload. The strict wire schema refuses a `tenant_id` field, and
 * nothing below reads one from context or properties.
 */
import { randomUUID } from 'node:crypto';
import type { EventRow, EventType, JsonObject } from '../../schemas/event-row.ts';
import { isJsonObject, WIRE_LIMITS } from '../../schemas/wire.ts';
import type { Config } from '../config/index.ts';
import { AppError, ErrorCode } from '../errors/index.ts';
import { applyPrivacy, type DropReason, type PrivacyContext } from './pii.ts';
import { fail, ok, RejectionCode, type Result } from './result.ts';
import { cleanString, sanitiseObject } from './sanitise.ts';
import { ownValue, sanitiseEvent, type CleanEvent } from './sanitise-event.ts';
import { resolveTimestamps, type RowTimes } from './timestamps.ts';
import { parseEnvelope, validateEvent } from './validate.ts';

export { RejectionCode } from './result.ts';
export type { Result } from './result.ts';
export { sanitiseEvent, type CleanEvent } from './sanitise-event.ts';

export interface IngestContext {
  tenantId: string;
  keyId: string;
  requestId: string;
  /** Server clock when the request arrived. */
  receivedAt: Date;
  ip: string;
  userAgent: string;
  limits: Config['limits'];
  /** The tenant's privacy rules; without them rows are stored as sent (unit tests, tools). */
  privacy?: PrivacyContext;
  /**
   * The size in bytes of the JSON body the events were parsed from. When it
   * proves no event can be over the size limit, no event is measured.
   */
  bodyBytes?: number;
  /** When given, collects the message ids generated here for events that came without one. */
  generatedIds?: Set<string>;
}

export interface Rejection {
  index: number;
  code: RejectionCode;
  message: string;
  messageId?: string;
}

export interface IngestResult {
  rows: EventRow[];
  rejected: Rejection[];
  /** Events discarded by the tenant's own policy (consent, DNT, bots): not errors, not stored. Set when privacy rules ran. */
  dropped?: Partial<Record<DropReason, number>>;
}

/** What a batch says about all of its events. */
export interface BatchDefaults {
  /** Already sanitised. */
  context: JsonObject | null;
  sentAt: string | null;
}

/**
 * UTF-8 size of a value's JSON, or null when it cannot be measured.
 * JSON.parse is iterative but JSON.stringify recurses, so a body of 500,000
 * nested brackets (1 MB) parses fine and then overflows the stack here.
 */
function jsonByteLength(value: unknown): number | null {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? 0 : Buffer.byteLength(json);
  } catch {
    return null;
  }
}

/**
 * JSON.stringify writes no value longer than its source text but a number:
 * `9e20` (4 bytes) becomes 21 digits, 5.25 times as long. So an event parsed
 * from a body of at most a sixth of the limit is under it, and measuring it
 * (a JSON.stringify per event, ~3 % of a batch's CPU) can be skipped. Nesting
 * is still capped: the sanitiser refuses what is deeper than maxDepth.
 */
const MAX_JSON_GROWTH = 6;

function sizeBoundedByBody(ctx: IngestContext): boolean {
  return ctx.bodyBytes !== undefined && ctx.bodyBytes * MAX_JSON_GROWTH <= ctx.limits.maxEventBytes;
}

/** Segment's 32 KB rule, measured on the event as the client sent it. */
export function checkEventSize(raw: unknown, maxBytes: number): Result<unknown> {
  const bytes = jsonByteLength(raw);
  if (bytes === null) return fail(RejectionCode.TOO_DEEP, 'event: nested too deeply to measure');
  if (bytes > maxBytes) return fail(RejectionCode.EVENT_TOO_LARGE, `event: ${bytes} bytes, over the ${maxBytes}-byte limit`);
  return ok(raw);
}

/** Step 6: the row, with everything that identifies the sender taken from the request. */
export function toEventRow(e: CleanEvent, times: RowTimes, ctx: IngestContext): EventRow {
  const headerAgent = cleanString(ctx.userAgent, ctx.limits.maxStringLength);
  const contextAgent = ownValue(e.context, 'userAgent');
  let messageId = e.messageId;
  if (messageId === null) {
    messageId = randomUUID();
    ctx.generatedIds?.add(messageId);
  }
  return {
    tenant_id: ctx.tenantId,
    message_id: messageId,
    type: e.type,
    event: e.event,
    user_id: e.userId,
    anonymous_id: e.anonymousId,
    group_id: e.groupId,
    previous_id: e.previousId,
    ...times,
    properties: e.properties,
    traits: e.traits,
    context: e.context,
    ip: ctx.ip,
    user_agent: headerAgent !== '' ? headerAgent : typeof contextAgent === 'string' ? contextAgent : '',
    key_id: ctx.keyId,
  };
}

/** Steps 4-6 for one event (the tenant's privacy rules are applied by ingestBody). */
export function ingestEvent(path: 'batch' | EventType, raw: unknown, batch: BatchDefaults, ctx: IngestContext): Result<EventRow> {
  if (!sizeBoundedByBody(ctx)) {
    const sized = checkEventSize(raw, ctx.limits.maxEventBytes);
    if (!sized.ok) return sized;
  }
  const valid = validateEvent(path, raw);
  if (!valid.ok) return valid;
  const clean = sanitiseEvent(valid.value, batch.context, ctx.limits);
  if (!clean.ok) return clean;
  const e = valid.value;
  const times = resolveTimestamps(
    { timestamp: e.timestamp, originalTimestamp: e.originalTimestamp, sentAt: e.sentAt ?? batch.sentAt },
    ctx.receivedAt,
  );
  if (!times.ok) return times;
  return ok(toEventRow(clean.value, times.value, ctx));
}

// Echo the client's own messageId with a rejection so it can match it up,
// but only one that could have been valid (short, clean).
function rejectionMessageId(raw: unknown): string | undefined {
  if (!isJsonObject(raw)) return undefined;
  const v = ownValue(raw, 'messageId');
  if (typeof v !== 'string' || v.length > WIRE_LIMITS.messageIdLength) return undefined;
  const id = cleanString(v);
  return id.length > 0 && id.length <= WIRE_LIMITS.messageIdLength ? id : undefined;
}

function rejection(index: number, r: { code: RejectionCode; message: string }, raw: unknown): Rejection {
  const messageId = rejectionMessageId(raw);
  return messageId === undefined ? { index, code: r.code, message: r.message } : { index, code: r.code, message: r.message, messageId };
}

function batchDefaults(body: JsonObject, limits: Config['limits']): { events: unknown[]; defaults: BatchDefaults } {
  const env = parseEnvelope(body, limits);
  const context = env.context ?? null;
  if (context === null) return { events: env.batch, defaults: { context: null, sentAt: env.sentAt ?? null } };
  // The batch context is copied into every event, so it gets the per-event
  // budget: without it a 400 KB context times 2,000 events is 800 MB of rows.
  const bytes = jsonByteLength(context);
  if (bytes === null) throw new AppError(ErrorCode.INVALID_BODY, 'context: nested too deeply');
  if (bytes > limits.maxEventBytes) {
    throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `context: the batch context is over the ${limits.maxEventBytes}-byte limit`);
  }
  const clean = sanitiseObject(context, limits, 'context');
  if (!clean.ok) throw new AppError(ErrorCode.INVALID_BODY, `${clean.message} (${clean.code})`);
  return { events: env.batch, defaults: { context: clean.value, sentAt: env.sentAt ?? null } };
}

/**
 * A request body, parsed from JSON, to rows and per-event rejections.
 * Throws AppError only for whole-request problems (not an object, no batch,
 * too many events, a bad batch-level field).
 */
export function ingestBody(path: 'batch' | EventType, body: unknown, ctx: IngestContext): IngestResult {
  if (!isJsonObject(body)) throw new AppError(ErrorCode.INVALID_BODY, 'the request body must be a JSON object');
  const { events, defaults } =
    path === 'batch' ? batchDefaults(body, ctx.limits) : { events: [body], defaults: { context: null, sentAt: null } };
  const rows: EventRow[] = [];
  const rejected: Rejection[] = [];
  const dropped: Partial<Record<DropReason, number>> = {};
  events.forEach((raw, index) => {
    const r = ingestEvent(path, raw, defaults, ctx);
    if (!r.ok) rejected.push(rejection(index, r, raw));
    else if (!ctx.privacy) rows.push(r.value);
    else {
      // Step 6, the tenant's privacy rules: a pure function of the row and the settings.
      const p = applyPrivacy(r.value, ctx.privacy);
      if (p.keep) rows.push(p.row);
      else dropped[p.reason] = (dropped[p.reason] ?? 0) + 1;
    }
  });
  return ctx.privacy ? { rows, rejected, dropped } : { rows, rejected };
}
