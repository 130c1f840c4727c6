/**
 * Step 5 for one validated event: every id, name and JSON tree cleaned by the
 * sanitiser, Segment's field conventions applied (page category, identify
 * traits in context), and the batch context merged in.
 */
import type { EventType, JsonObject, JsonValue } from '../../schemas/event-row.ts';
import { isJsonObject, WIRE_LIMITS, type WireEvent } from '../../schemas/wire.ts';
import type { Config } from '../config/index.ts';
import { fail, ok, RejectionCode, type Result } from './result.ts';
import { cleanString, sanitiseObject } from './sanitise.ts';

export interface CleanEvent {
  type: EventType;
  messageId: string | null;
  event: string;
  userId: string;
  anonymousId: string;
  groupId: string;
  previousId: string;
  properties: JsonObject;
  traits: JsonObject;
  context: JsonObject;
}

function cleanId(value: string | null | undefined, field: string, max: number): Result<string> {
  if (value == null) return ok('');
  const v = cleanString(value);
  if (v.length === 0) return fail(RejectionCode.INVALID_EVENT, `${field}: empty after removing control characters`);
  // NFC can lengthen some scripts; the storage guard and dedup rely on the cap.
  if (v.length > max) return fail(RejectionCode.INVALID_EVENT, `${field}: longer than ${max} characters`);
  return ok(v);
}

export function ownValue(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

function rawProperties(e: WireEvent): JsonObject {
  if (e.type === 'track') return e.properties ?? {};
  if (e.type !== 'page' && e.type !== 'screen') return {};
  const props = e.properties ?? {};
  if (e.category == null || Object.hasOwn(props, 'category')) return props;
  return Object.fromEntries([...Object.entries(props), ['category', e.category]]);
}

function eventName(e: WireEvent): Result<string> {
  const raw = e.type === 'track' ? e.event : e.type === 'page' || e.type === 'screen' ? (e.name ?? '') : '';
  // The name is part of the table's sort key: page/screen names are cut to the
  // same 200 characters a track name may have.
  const name = cleanString(raw, WIRE_LIMITS.eventNameLength);
  if (e.type === 'track' && name.length === 0) {
    return fail(RejectionCode.INVALID_EVENT, 'event: empty after removing control characters');
  }
  return ok(name);
}

function mergeContext(event: JsonObject, batch: JsonObject | null, limits: Config['limits']): Result<JsonObject> {
  const own = sanitiseObject(event, limits, 'context');
  if (!own.ok || batch === null || Object.keys(batch).length === 0) return own;
  const merged = Object.fromEntries([
    ...Object.entries(batch).filter(([k]) => !Object.hasOwn(own.value, k)),
    ...Object.entries(own.value),
  ]);
  // Both halves are clean already; this pass checks what only the merge can
  // break: the key budget and dotted-path collisions between the two.
  return sanitiseObject(merged, limits, 'context');
}

type Ids = Pick<CleanEvent, 'messageId' | 'userId' | 'anonymousId' | 'groupId' | 'previousId'>;

function cleanIds(e: WireEvent): Result<Ids> {
  const { idLength, messageIdLength } = WIRE_LIMITS;
  const messageId = cleanId(e.messageId, 'messageId', messageIdLength);
  const userId = cleanId(e.userId, 'userId', idLength);
  const anonymousId = cleanId(e.anonymousId, 'anonymousId', idLength);
  const groupId = cleanId(e.type === 'group' ? e.groupId : null, 'groupId', idLength);
  const previousId = cleanId(e.type === 'alias' ? e.previousId : null, 'previousId', idLength);
  if (!messageId.ok) return messageId;
  if (!userId.ok) return userId;
  if (!anonymousId.ok) return anonymousId;
  if (!groupId.ok) return groupId;
  if (!previousId.ok) return previousId;
  return ok({
    messageId: messageId.value === '' ? null : messageId.value,
    userId: userId.value,
    anonymousId: anonymousId.value,
    groupId: groupId.value,
    previousId: previousId.value,
  });
}

/** Step 5: every string and tree of the event cleaned, or the reason it cannot be. */
export function sanitiseEvent(e: WireEvent, batchContext: JsonObject | null, limits: Config['limits']): Result<CleanEvent> {
  const ids = cleanIds(e);
  if (!ids.ok) return ids;
  const event = eventName(e);
  if (!event.ok) return event;
  const properties = sanitiseObject(rawProperties(e), limits, 'properties');
  if (!properties.ok) return properties;
  const context = mergeContext(e.context ?? {}, batchContext, limits);
  if (!context.ok) return context;
  const traits = sanitiseObject(e.traits ?? {}, limits, 'traits');
  if (!traits.ok) return traits;
  // Segment's analytics.js puts identify traits in context.traits when the
  // call has none of its own.
  const contextTraits = ownValue(context.value, 'traits');
  const useContextTraits = e.type === 'identify' && e.traits == null && isJsonObject(contextTraits);
  return ok({
    type: e.type,
    ...ids.value,
    event: event.value,
    properties: properties.value,
    traits: useContextTraits ? contextTraits : traits.value,
    context: context.value,
  });
}

