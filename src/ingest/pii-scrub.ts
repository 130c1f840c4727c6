/**
 * The opt-in scrubber: finds personal data by its shape in free text and
 * masks it. Every pattern is bounded (no nested unbounded quantifiers, local
 * parts capped at 64 characters) so an 8 KB hostile string costs linear time,
 * and the ones with a checksum (card numbers: Luhn; IBAN: ISO 7064 mod 97)
 * are masked only when the checksum holds, so order numbers and timestamps
 * survive.
 */

export const MASKS = { email: '[email]', card: '[card]', iban: '[iban]', phone: '[phone]' } as const;

// RFC 5321 caps the local part at 64 octets; labels at 63. The local part is
// the practical set (RFC 5322 also allows / = ? and more, which would swallow
// the URL around an address in a query string).
const EMAIL_RE = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+/g;
// 13-19 digits, optionally grouped by single spaces or dashes.
const CARD_RE = /(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])/g;
// Country code, check digits, 11-30 alphanumerics, optionally in groups of four.
const IBAN_RE = /(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g;
// International (+ and 7-15 digits, E.164) or North American (555) 123-4567 / 555-123-4567.
const PHONE_RE = /(?<![\w+])\+[0-9](?:[ .-]?[0-9]){6,14}(?![0-9])|(?<![\w(])(?:\([0-9]{3}\)\s?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}(?![0-9])/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export function ibanValid(raw: string): boolean {
  const s = raw.replace(/ /g, '');
  if (s.length < 15 || s.length > 34) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const c = ch.charCodeAt(0);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

// Cheap tests first: most strings have no '@' and no run of digits.
const HAS_DIGITS = /[0-9]{2}/;
// Anything outside ASCII may fold to it under NFKC (＠ U+FF20, ﹫ U+FE6B, full-width digits).
const NON_ASCII = /[^\x00-\x7F]/;
const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;

function percentDecode(s: string): string {
  return s.replace(PERCENT_RUN, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m; // not UTF-8: leave the run as it was
    }
  });
}

/**
 * The form the patterns match against: URL-decoded (twice, for `%2540`, a
 * doubly encoded `@`) and NFKC-folded (full-width and other compatibility
 * forms become ASCII). The same string when there is nothing to fold.
 */
export function normaliseForScrub(s: string): string {
  let out = s;
  for (let i = 0; i < 2 && out.includes('%'); i++) {
    const next = percentDecode(out);
    if (next === out) break;
    out = next;
  }
  if (NON_ASCII.test(out)) out = out.normalize('NFKC');
  return out;
}

function scrubNormal(s: string): string {
  let out = s;
  if (out.includes('@')) out = out.replace(EMAIL_RE, MASKS.email);
  if (!HAS_DIGITS.test(out)) return out;
  out = out.replace(IBAN_RE, (m) => (ibanValid(m) ? MASKS.iban : m));
  out = out.replace(CARD_RE, (m) => (luhnValid(m.replace(/[ -]/g, '')) ? MASKS.card : m));
  out = out.replace(PHONE_RE, MASKS.phone);
  return out;
}

/**
 * The string with every e-mail address, valid card number, valid IBAN and
 * phone number masked, found in its normalised form (normaliseForScrub). A
 * string with nothing to mask comes back exactly as it was; one with
 * something masked comes back normalised, since a match in the decoded text
 * has no exact place in the encoded one.
 */
export function scrubString(s: string): string {
  const n = normaliseForScrub(s);
  const masked = scrubNormal(n);
  return masked === n ? s : masked;
}
