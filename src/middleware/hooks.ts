/**
 * The Client's `beforeRequest` / `afterResponse` options: a middleware like any other,
 * put under the Client's redirect loop, so the hooks run once per hop (a redirect is a
 * request of its own) and never more than once per hop, whatever a retry() below does.
 */
import { RoundtripError, redactURL } from "../errors.js";
import { Headers } from "../http1/headers.js";
import { handOver, type TransportRequest } from "../transport/prepared.js";
import type { Response } from "../transport/response.js";
import type { RoundTripper } from "../transport/transport.js";
import { hasLifecycle, type Middleware, withLifecycle } from "./compose.js";

/**
 * The request a hook sees: its own copy, so a hook may edit `url`, `method` and `headers`
 * (or any other field) without touching the caller's objects.
 */
export interface HookRequest extends TransportRequest {
  url: URL;
  method: string;
  headers: Headers;
}

/** Runs before each hop is sent; may edit the request. A throw fails the call with that error. */
export type BeforeRequestHook = (req: HookRequest) => void | Promise<void>;

/**
 * Runs on each hop's response head (3xx included). Return a Response to replace it (the
 * hook then owns the one it was given: read or close it), nothing to keep it. A throw
 * closes the response and fails the call with that error.
 */
export type AfterResponseHook = (
  res: Response,
  req: HookRequest,
  // biome-ignore lint/suspicious/noConfusingVoidType: a hook that returns nothing keeps the response.
) => Response | void | Promise<Response | void>;

export interface Hooks {
  beforeRequest?: BeforeRequestHook | undefined;
  afterResponse?: AfterResponseHook | undefined;
}

export function hooks(h: Hooks): Middleware {
  const before = h.beforeRequest;
  const after = h.afterResponse;
  if (before !== undefined && typeof before !== "function") {
    throw new RoundtripError("ERR_INVALID_REQUEST", "beforeRequest must be a function");
  }
  if (after !== undefined && typeof after !== "function") {
    throw new RoundtripError("ERR_INVALID_REQUEST", "afterResponse must be a function");
  }
  return (next) => ({
    async roundTrip(given: TransportRequest): Promise<Response> {
      const req = hookRequest(given);
      if (before !== undefined) await before(req);
      // The hook may have put a Headers of its own in; either way it is this request's.
      if (req.headers instanceof Headers) handOver(req.headers);
      const res = await next.roundTrip(req);
      if (after === undefined) return res;
      let replaced: Response | undefined;
      try {
        replaced = (await after(res, req)) ?? undefined;
      } catch (err) {
        await res.close();
        throw err;
      }
      return replaced ?? res;
    },
  });
}

/** `rt` with the Client's hooks around it, or `rt` itself when there are none. */
export function withHooks(rt: RoundTripper, h: Hooks): RoundTripper {
  if (h.beforeRequest === undefined && h.afterResponse === undefined) return rt;
  const hooked = hooks(h)(rt);
  // Keep close() and stats() reachable through client.transport when the base had them.
  return hasLifecycle(rt) ? withLifecycle(hooked, rt) : hooked;
}

function hookRequest(given: TransportRequest): HookRequest {
  let url: URL;
  try {
    // A copy even of a URL object: the Client keeps using its own for the redirect loop.
    url = new URL(typeof given.url === "string" ? given.url : given.url.href);
  } catch (cause) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `invalid URL ${JSON.stringify(redactURL(String(given.url)))}`,
      {
        cause,
      },
    );
  }
  return {
    ...given,
    url,
    method: given.method ?? "GET",
    headers: new Headers(given.headers ?? null),
  };
}
