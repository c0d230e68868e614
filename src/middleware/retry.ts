/**
 * retry(): sends a request again after a retryable status or network error, waiting an
 * exponential backoff with full jitter (or the server's Retry-After) in between.
 *
 * What is retried, in the order it is checked:
 *  1. a response whose status is in `statusCodes`, or an error whose code is in
 *     `errorCodes` (ERR_TIMEOUT only for the dial, tls and responseHeader phases: a
 *     deadline or an abort is the caller's decision, never a failure to retry);
 *  2. while resends are left (`retries`) and the request's signal has not fired;
 *  3. of an idempotent request (Go's rule, see isIdempotent; `methods` replaces the
 *     method list);
 *  4. when Retry-After, if any, asks for no more than `maxRetryAfter`;
 *  5. when `shouldRetry(ctx)`, if given, agrees.
 * Then the body must be sendable again (canReplay: a replayable kind or getBody); a
 * one-shot body is never resent (it would go out empty or fail half-way): the call fails
 * with ERR_REQUEST_BODY instead, the original failure as its `cause`.
 *
 * The transport's own single retry of a dead pooled connection happens below this and is
 * not counted; `response.retries` counts the resends made here.
 */
import { toOutgoingBody } from "../body/outgoing.js";
import { isRoundtripError, RoundtripError } from "../errors.js";
import { Headers } from "../http1/headers.js";
import { canReplay, isIdempotent, type TransportRequest } from "../transport/prepared.js";
import type { Response } from "../transport/response.js";
import type { RoundTripper } from "../transport/transport.js";
import { type Backoff, backoffDelay, retryAfterDelay } from "./backoff.js";
import type { Middleware } from "./compose.js";
import { type ResumePolicy, resumable, resumeTag } from "./resume.js";
import { type Clock, realTimers, sleep, type Timers } from "./timers.js";

export interface RetryContext {
  /** The resend this would be: 1 for the first. */
  attempt: number;
  /** The request as retry() was given it. */
  request: TransportRequest;
  /** The response that failed (its body unread; it is closed before the wait), when a status caused the retry. */
  response: Response | undefined;
  /** The error that failed the attempt, when one caused the retry. */
  error: unknown;
  /** ms retry() will wait before the resend (backoff, or Retry-After). */
  delay: number;
}

export interface RetryOptions {
  /** Resends at most (attempts = retries + 1). Default 2. */
  retries?: number;
  /** ms: ceiling of the first backoff wait; each later one is `factor` times the last. Default 500. */
  minDelay?: number;
  /** ms: no backoff wait is longer. Default 30_000. */
  maxDelay?: number;
  /** Growth of the backoff ceiling per retry. Default 2. */
  factor?: number;
  /** Full jitter: wait a uniform draw in [0, ceiling] rather than the ceiling. Default true. */
  jitter?: boolean;
  /** ms: a Retry-After asking for longer is not waited for; the response is returned. Default 60_000. */
  maxRetryAfter?: number;
  /** Statuses retried. Default 408, 413, 429, 500, 502, 503, 504. */
  statusCodes?: Iterable<number>;
  /** Error codes retried. Default ERR_CONNECTION_CLOSED, ERR_CONNECT, ERR_TIMEOUT (dial, tls, responseHeader phases). */
  errorCodes?: Iterable<string>;
  /** Methods retried without an Idempotency-Key. Default GET, HEAD, OPTIONS, TRACE (Go's). */
  methods?: Iterable<string>;
  /** Asked last, once every rule allows a retry; false (or a promise of it) stops. */
  shouldRetry?: (ctx: RetryContext) => boolean | Promise<boolean>;
  /** Told of each retry just before its wait. */
  onRetry?: (ctx: RetryContext) => void;
  /** Resume a 200 body cut off mid-download with a Range request on its strong ETag. Default true. */
  resumeDownloads?: boolean;
  /** ms since the epoch, for Retry-After dates. Default Date.now. */
  clock?: Clock;
  /** The timer the waits use. Default Node's setTimeout / clearTimeout. */
  timers?: Timers;
  /** [0, 1) for the jitter draw. Default Math.random. */
  random?: () => number;
}

export const DEFAULT_STATUS_CODES: readonly number[] = [408, 413, 429, 500, 502, 503, 504];
export const DEFAULT_ERROR_CODES: readonly string[] = ["ERR_CONNECTION_CLOSED", "ERR_CONNECT", "ERR_TIMEOUT"];
/** An ERR_TIMEOUT of these phases is the server's failure; client (deadline) and body phases are not retried. */
const RETRYABLE_TIMEOUT_PHASES = new Set(["dial", "tls", "responseHeader"]);

export function retry(options: RetryOptions = {}): Middleware {
  const policy = new RetryPolicy(options);
  return (next) => ({ roundTrip: (req) => policy.send(next, req) });
}

/** The validated options and the retry loop; one per retry() call, shared by every request through it. */
class RetryPolicy implements ResumePolicy {
  readonly retries: number;
  readonly backoff: Backoff;
  readonly maxRetryAfter: number;
  readonly statusCodes: ReadonlySet<number>;
  readonly errorCodes: ReadonlySet<string>;
  readonly methods: ReadonlySet<string> | undefined;
  readonly shouldRetry: RetryOptions["shouldRetry"];
  readonly onRetry: RetryOptions["onRetry"];
  readonly resumeDownloads: boolean;
  readonly clock: Clock;
  readonly timers: Timers;

  constructor(o: RetryOptions) {
    this.retries = o.retries ?? 2;
    if (!Number.isSafeInteger(this.retries) || this.retries < 0) invalid("retries must be an integer ≥ 0");
    this.backoff = {
      minDelay: o.minDelay ?? 500,
      maxDelay: o.maxDelay ?? 30_000,
      factor: o.factor ?? 2,
      jitter: o.jitter ?? true,
      random: o.random ?? Math.random,
    };
    for (const k of ["minDelay", "maxDelay"] as const) {
      const v = this.backoff[k];
      if (!Number.isFinite(v) || v < 0) invalid(`${k} must be a number of ms ≥ 0`);
    }
    if (!Number.isFinite(this.backoff.factor) || this.backoff.factor < 1)
      invalid("factor must be a number ≥ 1");
    this.maxRetryAfter = o.maxRetryAfter ?? 60_000;
    if (!(this.maxRetryAfter >= 0)) invalid("maxRetryAfter must be a number of ms ≥ 0");
    this.statusCodes = new Set(o.statusCodes ?? DEFAULT_STATUS_CODES);
    for (const s of this.statusCodes) {
      if (!Number.isInteger(s) || s < 100 || s > 999) invalid(`statusCodes holds ${String(s)}, not a status`);
    }
    this.errorCodes = new Set(o.errorCodes ?? DEFAULT_ERROR_CODES);
    this.methods = o.methods === undefined ? undefined : new Set(o.methods);
    for (const k of ["shouldRetry", "onRetry", "clock", "random"] as const) {
      if (o[k] !== undefined && typeof o[k] !== "function") invalid(`${k} must be a function`);
    }
    this.shouldRetry = o.shouldRetry;
    this.onRetry = o.onRetry;
    this.resumeDownloads = o.resumeDownloads ?? true;
    this.clock = o.clock ?? Date.now;
    this.timers = o.timers ?? realTimers;
  }

  async send(next: RoundTripper, req: TransportRequest): Promise<Response> {
    let retries = 0;
    let attempt = req;
    for (;;) {
      let res: Response;
      try {
        res = await next.roundTrip(attempt);
      } catch (error) {
        if (!this.retryableError(error)) throw error;
        const ctx = await this.allowed(req, retries, undefined, error);
        if (ctx === null) throw error;
        attempt = this.#resend(req, error, codeOf(error));
        this.onRetry?.(ctx);
        await sleep(ctx.delay, req.signal, this.timers);
        retries++;
        continue;
      }
      if (!this.statusCodes.has(res.status)) return this.#done(next, req, res, retries);
      let ctx: RetryContext | null;
      try {
        ctx = await this.allowed(req, retries, res, undefined);
        if (ctx === null) return this.#done(next, req, res, retries);
        attempt = this.#resend(req, undefined, `status ${res.status}`);
        this.onRetry?.(ctx);
      } catch (err) {
        await res.close();
        throw err;
      }
      // Drained (bounded) so its connection goes back to the pool before the wait.
      await res.close();
      await sleep(ctx.delay, req.signal, this.timers);
      retries++;
    }
  }

  /** The response handed up: its resends counted, its body resumable when it can be. */
  #done(next: RoundTripper, req: TransportRequest, res: Response, retries: number): Response {
    res.retries = retries;
    if (!this.resumeDownloads) return res;
    const etag = resumeTag(res, req);
    return etag === null ? res : resumable(res, req, etag, next, retries, this);
  }

  retryableError(error: unknown): boolean {
    if (!isRoundtripError(error) || !this.errorCodes.has(error.code)) return false;
    return error.code !== "ERR_TIMEOUT" || RETRYABLE_TIMEOUT_PHASES.has(error.phase ?? "");
  }

  /** Rules 2-5 of the header comment; the context of the retry, or null when there is none. @internal */
  async allowed(
    req: TransportRequest,
    retries: number,
    response: Response | undefined,
    error: unknown,
  ): Promise<RetryContext | null> {
    if (retries >= this.retries || req.signal?.aborted) return null;
    if (!this.#idempotent(req)) return null;
    let delay = backoffDelay(this.backoff, retries + 1);
    if (response !== undefined) {
      const asked = retryAfterDelay(response.headers.get("retry-after"), this.clock());
      if (asked !== undefined) {
        if (asked > this.maxRetryAfter) return null;
        delay = asked;
      }
    }
    const ctx: RetryContext = { attempt: retries + 1, request: req, response, error, delay };
    if (this.shouldRetry !== undefined && !(await this.shouldRetry(ctx))) return null;
    return ctx;
  }

  #idempotent(req: TransportRequest): boolean {
    const h = req.headers;
    const headers = h == null ? null : h instanceof Headers ? h : new Headers(h);
    return isIdempotent(req.method ?? "GET", req.idempotent, headers, this.methods);
  }

  /**
   * The request to send next: the same one when its body can be sent as is, else one
   * whose body is getBody()'s. A one-shot body without getBody refuses the retry.
   */
  #resend(req: TransportRequest, cause: unknown, why: string): TransportRequest {
    const body = req.body == null ? null : sentBody(req.body);
    if (body === USED || !canReplay({ body, getBody: req.getBody ?? null })) {
      if (body === USED && req.getBody != null) return { ...req, body: null };
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `not retried after ${why}: the request body is a one-shot stream that cannot be sent again; pass getBody to let retry() resend it`,
        cause === undefined ? {} : { cause },
      );
    }
    if (body === null || body.replayable) return req;
    return { ...req, body: null };
  }
}

/** What toOutgoingBody says of a one-shot source the first attempt already read. */
const USED = Symbol("used one-shot body");

/** The body as the transport sees it, or USED for a one-shot source already read (ERR_BODY_USED). */
function sentBody(
  init: NonNullable<TransportRequest["body"]>,
): ReturnType<typeof toOutgoingBody> | typeof USED {
  try {
    return toOutgoingBody(init);
  } catch (err) {
    if (isRoundtripError(err, "ERR_BODY_USED")) return USED;
    throw err;
  }
}

function codeOf(error: unknown): string {
  return isRoundtripError(error) ? error.code : "an error";
}

function invalid(message: string): never {
  throw new RoundtripError("ERR_INVALID_REQUEST", `retry(): ${message}`);
}
