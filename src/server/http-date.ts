/**
 * HTTP dates (RFC 9110 section 5.6.7): the three formats a recipient must accept, parsed
 * strictly and always as UTC. `Date.parse` is not used: it reads the asctime form as local
 * time and accepts many strings the RFC does not.
 */

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const TIME = "(\\d\\d):(\\d\\d):(\\d\\d)";

// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d\\d) ${MONTH} (\\d{4}) ${TIME} GMT$`);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d\\d)-${MONTH}-(\\d\\d) ${TIME} GMT$`);
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`);

/** Milliseconds since the epoch, or undefined when `value` is not an HTTP date. */
export function parseHttpDate(value: string): number | undefined {
  const s = value.trim();
  let m = IMF_FIXDATE.exec(s);
  if (m) return utc(m[3]!, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC850.exec(s);
  if (m) {
    // RFC 9110: a two-digit year more than 50 years in the future means the past century.
    let year = 2000 + Number(m[3]);
    if (year > new Date().getUTCFullYear() + 50) year -= 100;
    return utc(String(year), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(s);
  if (m) return utc(m[6]!, m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

function utc(
  year: string,
  month: string,
  day: string,
  h: string,
  min: string,
  sec: string,
): number | undefined {
  const mon = MONTHS.indexOf(month);
  const d = Number(day);
  const t = Date.UTC(Number(year), mon, d, Number(h), Number(min), Number(sec));
  // Reject 31 Feb and 25:00:00 instead of letting Date roll them over.
  const back = new Date(t);
  if (back.getUTCDate() !== d || back.getUTCHours() !== Number(h) || back.getUTCMinutes() !== Number(min)) {
    return undefined;
  }
  if (back.getUTCSeconds() !== Number(sec)) return undefined;
  return t;
}

/** IMF-fixdate, the only format a sender may generate. */
export function formatHttpDate(ms: number): string {
  return new Date(ms).toUTCString();
}
