/**
 * Exit codes, as HTTPie and xh define them (their --check-status), so scripts written for
 * either keep working:
 *
 *   0    success (any status without --check-status)
 *   1    any other error: bad usage, connection refused, TLS failure, malformed response…
 *   2    timeout (-m/--max-time, --connect-timeout, or a transport timeout)
 *   3    --check-status and a 3xx that was not followed (no -L)
 *   4    --check-status and a 4xx
 *   5    --check-status and a 5xx
 *   6    more redirects than --max-redirs
 *   130  interrupted (Ctrl-C)
 */
import { isRoundtripError } from "../index.js";

export const EXIT = {
  ok: 0,
  error: 1,
  timeout: 2,
  http3xx: 3,
  http4xx: 4,
  http5xx: 5,
  tooManyRedirects: 6,
  interrupted: 130,
} as const;

export function exitCodeForError(err: unknown): number {
  if (isRoundtripError(err, "ERR_TIMEOUT")) return EXIT.timeout;
  if (isRoundtripError(err, "ERR_TOO_MANY_REDIRECTS")) return EXIT.tooManyRedirects;
  return EXIT.error;
}

/** With --check-status: what the final status means for the exit code. */
export function exitCodeForStatus(status: number, followed: boolean): number {
  if (status >= 300 && status < 400 && !followed) return EXIT.http3xx;
  if (status >= 400 && status < 500) return EXIT.http4xx;
  if (status >= 500 && status < 600) return EXIT.http5xx;
  return EXIT.ok;
}
