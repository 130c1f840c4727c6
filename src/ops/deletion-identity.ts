/**
 * Whose events a user deletion takes (docs/deletion.md). The subject is the
 * user id asked for, plus the identities linked to it by events a tenant's
 * own servers sent with a secret ingest key: an `alias` (its previousId is an
 * earlier id of the same person) and any event carrying the user id and an
 * anonymous id together. A link asserted by a publishable (browser) key is a
 * claim, not proof: anyone can read that key from a page and send
 * `alias alice ← bob`, so following it would let a visitor delete someone
 * else. Those links are listed (so an operator can see them) and not
 * followed. Ids the request itself names (the data subject showed their
 * anonymous id) are followed too.
 */
import type { Warehouse } from '../storage/warehouse.ts';

export type IdKind = 'userId' | 'anonymousId';
/** requested: the subject; named: listed in the request; alias / seen_with: an event linked it. */
export type LinkHow = 'requested' | 'named' | 'alias' | 'seen_with';

export interface IdentityLink {
  id: string;
  kind: IdKind;
  how: LinkHow;
  /** The user id the link starts from (alias and seen_with). */
  from?: string;
  /** The key that sent the event establishing the link: an ingest key for a followed link, a browser key for a claim. */
  keyId?: string;
}

export interface Identity {
  userIds: string[];
  anonymousIds: string[];
}

export interface ResolvedIdentity extends Identity {
  followed: IdentityLink[];
  /** Links asserted only by publishable keys: claims, never followed. */
  notFollowed: IdentityLink[];
}

// Alias chains are short; the cap bounds a pathological tenant where one
// anonymous id was shared by thousands of users.
export const MAX_LINKED_IDS = 1_000;
const CLOSURE_ROUNDS = 5;
const QUERY_TIMEOUT_MS = 120_000;

interface LinkRow {
  kind: IdKind;
  id: string;
  from_user: string;
  trusted: number;
  key_id: string;
}

/**
 * Every link out of the given user ids, once per (id, from, trusted), with
 * the smallest key id that sent it: a trusted link needs only one secret-key
 * event, whatever browser events also claimed it.
 */
const LINKS_SQL = `SELECT kind, id, from_user, trusted, min(key_id) AS key_id FROM (
  SELECT 'anonymousId' AS kind, anonymous_id AS id, user_id AS from_user, key_id IN {k:Array(String)} AS trusted, key_id
  FROM events WHERE tenant_id = {t:String} AND user_id IN {u:Array(String)} AND anonymous_id != ''
  UNION ALL
  SELECT 'userId' AS kind, previous_id AS id, user_id AS from_user, key_id IN {k:Array(String)} AS trusted, key_id
  FROM events WHERE tenant_id = {t:String} AND user_id IN {u:Array(String)} AND type = 'alias' AND previous_id != ''
)
GROUP BY kind, id, from_user, trusted
ORDER BY trusted DESC, kind, id, from_user
LIMIT {lim:UInt32}`;

/**
 * The subject's identity: `userId`, the ids named in the request, and what
 * secret-key events link to them, up to five hops. `trustedKeys` are the
 * tenant's ingest keys (revoked ones included: they were valid when they sent).
 */
export async function resolveIdentity(
  wh: Warehouse,
  o: { tenantId: string; userId: string; namedAnonymousIds: readonly string[]; trustedKeys: readonly string[] },
): Promise<ResolvedIdentity> {
  const users = new Set([o.userId]);
  const anon = new Set<string>();
  const followed: IdentityLink[] = [{ id: o.userId, kind: 'userId', how: 'requested' }];
  for (const a of o.namedAnonymousIds) {
    if (anon.has(a)) continue;
    anon.add(a);
    followed.push({ id: a, kind: 'anonymousId', how: 'named' });
  }
  const claims = new Map<string, IdentityLink>();
  for (let round = 0; round < CLOSURE_ROUNDS; round++) {
    const before = users.size + anon.size;
    const rows = await wh.query<LinkRow>(LINKS_SQL, {
      params: { t: o.tenantId, u: [...users], k: [...o.trustedKeys], lim: 4 * MAX_LINKED_IDS },
      timeoutMs: QUERY_TIMEOUT_MS,
    });
    for (const r of rows) {
      const how: LinkHow = r.kind === 'userId' ? 'alias' : 'seen_with';
      const link: IdentityLink = { id: r.id, kind: r.kind, how, from: r.from_user, keyId: r.key_id };
      if (Number(r.trusted) !== 1) {
        claims.set(`${r.kind}\u0000${r.id}`, link);
        continue;
      }
      if (r.kind === 'anonymousId') {
        if (anon.has(r.id)) continue;
        anon.add(r.id);
        followed.push(link);
      } else if (!users.has(r.id)) {
        // An alias's previousId is an earlier identity of the same person (often its anonymousId).
        users.add(r.id);
        followed.push(link);
        if (!anon.has(r.id)) {
          anon.add(r.id);
          followed.push({ ...link, kind: 'anonymousId' });
        }
      }
    }
    if (users.size + anon.size === before || users.size + anon.size > MAX_LINKED_IDS) break;
  }
  const notFollowed = [...claims.values()].filter((c) => !(c.kind === 'userId' ? users : anon).has(c.id));
  return {
    userIds: [...users].slice(0, MAX_LINKED_IDS),
    anonymousIds: [...anon].slice(0, MAX_LINKED_IDS),
    followed: followed.slice(0, 2 * MAX_LINKED_IDS),
    notFollowed: notFollowed.slice(0, MAX_LINKED_IDS),
  };
}

export interface IdCount {
  id: string;
  kind: IdKind;
  events: number;
}

/** Events per id the deletion takes: a user id's own (and aliases naming it), an anonymous id's while no user id was set. */
export async function countsPerId(wh: Warehouse, tenantId: string, ids: Identity): Promise<IdCount[]> {
  const rows = await wh.query<{ kind: IdKind; id: string; n: number | string }>(
    `SELECT kind, id, sum(n) AS n FROM (
      SELECT 'userId' AS kind, user_id AS id, count() AS n FROM events WHERE tenant_id = {t:String} AND user_id IN {u:Array(String)} GROUP BY id
      UNION ALL
      SELECT 'userId' AS kind, previous_id AS id, count() AS n FROM events
        WHERE tenant_id = {t:String} AND previous_id IN {u:Array(String)} AND user_id NOT IN {u:Array(String)} GROUP BY id
      UNION ALL
      SELECT 'anonymousId' AS kind, anonymous_id AS id, count() AS n FROM events
        WHERE tenant_id = {t:String} AND user_id = '' AND anonymous_id IN {a:Array(String)} GROUP BY id
    ) GROUP BY kind, id ORDER BY kind DESC, id`,
    { params: { t: tenantId, u: ids.userIds, a: ids.anonymousIds }, timeoutMs: QUERY_TIMEOUT_MS },
  );
  const counted = new Map(rows.map((r) => [`${r.kind}\u0000${r.id}`, Number(r.n)]));
  // Every id followed appears, with 0 when it has no events of its own.
  return [
    ...ids.userIds.map((id) => ({ id, kind: 'userId' as const, events: counted.get(`userId\u0000${id}`) ?? 0 })),
    ...ids.anonymousIds.map((id) => ({ id, kind: 'anonymousId' as const, events: counted.get(`anonymousId\u0000${id}`) ?? 0 })),
  ];
}
