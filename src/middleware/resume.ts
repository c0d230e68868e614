/**
 * retry()'s resumeDownloads: a 200 body cut off mid-download is fetched on from where it
 * stopped with `Range: bytes=N-`, guarded by `If-Match` and `If-Range` on the response's
 * strong ETag (RFC 9110 §13.1.1, §14.2: only a strong validator proves the bytes are
 * the same representation's), and the parts are stitched into the one Body the caller
 * reads. A 206 that does not start at N, belongs to another length or another ETag,
 * or any other status, ends the resumption: the caller gets the cut's error.
 */
import { isRoundtripError } from "../errors.js";
import { Headers } from "../http1/headers.js";
import { handOver, type Progress, type TransportRequest } from "../transport/prepared.js";
import type { Response } from "../transport/response.js";
import type { RoundTripper } from "../transport/transport.js";
import { pulled, withBody } from "./rebody.js";
import type { RetryContext } from "./retry.js";
import { sleep, type Timers } from "./timers.js";

/** What a resumption asks of retry(): the same budget, callbacks and timers as any retry. */
export interface ResumePolicy {
  allowed(
    req: TransportRequest,
    retries: number,
    response: Response,
    error: unknown,
  ): Promise<RetryContext | null>;
  /** Whether a request that failed with `err` may be sent again (retry()'s errorCodes). */
  retryableError(err: unknown): boolean;
  onRetry: ((ctx: RetryContext) => void) | undefined;
  timers: Timers;
}

/** A body that stopped early, as opposed to one that was refused or aborted. */
function isCut(err: unknown): boolean {
  if (!isRoundtripError(err)) return false;
  if (err.code === "ERR_CONNECTION_CLOSED" || err.code === "ERR_UNEXPECTED_EOF") return true;
  return err.code === "ERR_TIMEOUT" && err.phase === "body";
}

/** The strong ETag that can guard a resumption of `res` to `req`, or null when it cannot be resumed. */
export function resumeTag(res: Response, req: TransportRequest): string | null {
  if (res.status !== 200 || (req.method ?? "GET") !== "GET" || res.uncompressed) return null;
  if (res.body._complete) return null; // nothing left to lose
  const h = req.headers;
  if (h != null && (h instanceof Headers ? h : new Headers(h)).has("range")) return null;
  const etag = res.headers.get("etag");
  // Strong: quoted, no W/ prefix.
  if (etag === null || !/^"[^"]*"$/.test(etag)) return null;
  return etag;
}

/**
 * `res` with a body that resumes itself after a cut, as often as the retry budget
 * (`retries` already spent) allows. `out.retries` counts the resumptions too.
 */
export function resumable(
  res: Response,
  req: TransportRequest,
  etag: string,
  next: RoundTripper,
  spent: number,
  policy: ResumePolicy,
): Response {
  const total = res.contentLength >= 0 ? res.contentLength : null;
  // Fires when the caller gives up on the body: stops a wait or a resumption in flight.
  const giveUp = new AbortController();
  let current = res;
  let retries = spent;
  let out: Response | null = null;

  async function* chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    let offset = 0;
    // The caller's signal and giveUp, made on the first cut; its listener goes with the body.
    let both: { signal: AbortSignal; release(): void } | null = null;
    try {
      for (;;) {
        try {
          for await (const chunk of current.body) {
            offset += chunk.byteLength;
            yield chunk;
          }
          return;
        } catch (cut) {
          if (giveUp.signal.aborted || !isCut(cut) || (total !== null && offset >= total)) throw cut;
          both ??= either(req.signal, giveUp.signal);
          current = await continuation(cut, offset, both.signal);
        }
      }
    } finally {
      both?.release();
    }
  }

  /** The rest of the body from `offset`, asked for as often as the budget allows; else the cut's error. */
  async function continuation(cut: unknown, offset: number, signal: AbortSignal): Promise<Response> {
    let failure = cut;
    for (;;) {
      const ctx = await policy.allowed(req, retries, res, failure);
      if (ctx === null) throw failure;
      policy.onRetry?.(ctx);
      await sleep(ctx.delay, signal, policy.timers);
      retries++;
      if (out !== null) out.retries = retries;
      let part: Response;
      try {
        part = await next.roundTrip(rangeRequest(req, etag, offset, total, signal));
      } catch (err) {
        if (signal.aborted || !policy.retryableError(err)) throw err;
        failure = err;
        continue;
      }
      if (continues(part, etag, offset, total)) return part;
      // Another representation, or a server that will not serve ranges: the cut stands.
      await part.close();
      throw cut;
    }
  }

  out = withBody(
    res,
    pulled(chunks(), () => {
      giveUp.abort();
      void current.close().catch(() => {});
    }),
    () => current.trailers.raw(),
  );
  return out;
}

/** The request for the rest of the body: the caller's, from byte `offset`, only if it is still `etag`. */
function rangeRequest(
  req: TransportRequest,
  etag: string,
  offset: number,
  total: number | null,
  signal: AbortSignal,
): TransportRequest {
  const headers = new Headers(req.headers ?? null);
  headers.set("Range", `bytes=${offset}-`);
  headers.set("If-Match", etag);
  headers.set("If-Range", etag);
  const progress = req.onDownloadProgress;
  return {
    ...req,
    headers: handOver(headers),
    signal,
    // The caller hears of the whole body, not of the part.
    onDownloadProgress:
      progress === undefined ? undefined : (p: Progress) => progress({ loaded: offset + p.loaded, total }),
  };
}

const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

/** Whether `part` is the rest of the same representation from `offset`. */
function continues(part: Response, etag: string, offset: number, total: number | null): boolean {
  if (part.status !== 206 || part.uncompressed) return false;
  const tag = part.headers.get("etag");
  if (tag !== null && tag !== etag) return false;
  const m = CONTENT_RANGE.exec(part.headers.get("content-range")?.trim() ?? "");
  if (m === null || Number(m[1]) !== offset) return false;
  if (total !== null && (m[3] !== String(total) || Number(m[2]) !== total - 1)) return false;
  return true;
}

/** A signal that fires when either does; release() stops listening to them. */
function either(a: AbortSignal | undefined, b: AbortSignal): { signal: AbortSignal; release(): void } {
  if (a === undefined) return { signal: b, release() {} };
  const c = new AbortController();
  const onA = () => c.abort(a.reason);
  const onB = () => c.abort(b.reason);
  if (a.aborted) onA();
  else if (b.aborted) onB();
  else {
    a.addEventListener("abort", onA, { once: true });
    b.addEventListener("abort", onB, { once: true });
  }
  return {
    signal: c.signal,
    release() {
      a.removeEventListener("abort", onA);
      b.removeEventListener("abort", onB);
    },
  };
}
