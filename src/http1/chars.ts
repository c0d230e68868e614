/**
 * Byte classes of RFC 9110 §5.6.2 (token) and §5.5 (field values), as lookup tables:
 * the serializer and the parser ask "may this byte stand here?" millions of times.
 */

/** tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
export const TOKEN = new Uint8Array(256);
/** field-vchar / SP / HTAB: VCHAR (0x21–0x7E), obs-text (0x80–0xFF), SP, HTAB. No other CTL. */
export const FIELD_VALUE = new Uint8Array(256);
/** Bytes allowed in a request-target: visible ASCII only (no CTL, SP, DEL or non-ASCII). */
export const TARGET = new Uint8Array(256);

for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) TOKEN[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) TOKEN[b] = 1;
for (let b = 0x61; b <= 0x7a; b++) TOKEN[b] = 1;
for (let b = 0x21; b <= 0x7e; b++) FIELD_VALUE[b] = 1;
for (let b = 0x80; b <= 0xff; b++) FIELD_VALUE[b] = 1;
FIELD_VALUE[0x20] = 1;
FIELD_VALUE[0x09] = 1;
for (let b = 0x21; b <= 0x7e; b++) TARGET[b] = 1;

export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) return false;
  }
  return true;
}

/** A field value as it may go on the wire: no CR, LF, NUL or other CTL but HTAB; bytes ≤ 0xFF. */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || FIELD_VALUE[c] !== 1) return false;
  }
  return true;
}

export function isTarget(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || TARGET[c] !== 1) return false;
  }
  return true;
}

/** Removes leading and trailing SP / HTAB (OWS), nothing else. */
export function trimOWS(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 0x20 || s.charCodeAt(start) === 0x09)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 0x20 || s.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Printable form of a value for error messages: control bytes escaped, length bounded. */
export function printable(s: string, max = 60): string {
  const cut = s.length > max ? s.slice(0, max) + "…" : s;
  return JSON.stringify(cut);
}

/** Bytes of a Host field value (RFC 3986 authority: reg-name / IP-literal, ":" port). */
const HOST = new Uint8Array(128);
for (const c of "!$&'()*+,;=-._~:[]%") HOST[c.charCodeAt(0)] = 1;
for (let b = 0x30; b <= 0x39; b++) HOST[b] = 1;
for (let b = 0x41; b <= 0x5a; b++) HOST[b] = 1;
for (let b = 0x61; b <= 0x7a; b++) HOST[b] = 1;

export function isHost(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || HOST[c] !== 1) return false;
  }
  return true;
}
