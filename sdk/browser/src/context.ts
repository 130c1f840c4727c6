/**
 * What the browser knows about where an event happened: context.page (like
 * Segment's), UTM parameters as context.campaign, and the device basics.
 */
export const VERSION = '0.1.0';

export interface PageInfo {
  url: string;
  path: string;
  referrer: string;
  title: string;
  search: string;
}

export function pageInfo(referrer: string): PageInfo {
  return { url: location.href, path: location.pathname, referrer, title: document.title, search: location.search };
}

const UTM: [string, string][] = [
  ['source', 'source'],
  ['medium', 'medium'],
  ['campaign', 'name'],
  ['term', 'term'],
  ['content', 'content'],
];

/** utm_source → source, utm_campaign → name, …; undefined when the URL has none. */
export function campaign(search: string): Record<string, string> | undefined {
  const q = new URLSearchParams(search);
  let out: Record<string, string> | undefined;
  for (const [param, field] of UTM) {
    const v = q.get('utm_' + param);
    if (v) (out ??= {})[field] = v;
  }
  return out;
}

export function eventContext(page: PageInfo): Record<string, unknown> {
  const ctx: Record<string, unknown> = {
    library: { name: 'palisade.js', version: VERSION },
    page,
    locale: navigator.language,
    userAgent: navigator.userAgent,
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
  };
  try {
    ctx.timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch {
    /* old engines */
  }
  const c = campaign(page.search);
  if (c) ctx.campaign = c;
  return ctx;
}

/** crypto.randomUUID exists only in secure contexts; plain-HTTP pages get the same v4 shape from getRandomValues. */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
