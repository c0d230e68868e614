/**
 * fetch(): the WHATWG Fetch API over roundtrip's Client, so code written for
 * globalThis.fetch gets the pool, retries, zero copy and traces. It returns a standard
 * globalThis.Response. Differences from Node's built-in fetch are listed in docs/fetch.md.
 */
import type { BodyInit } from "../body/outgoing.js";
import { RoundtripError } from "../errors.js";
import type { Response as RtResponse } from "../transport/response.js";
import { Client, type ClientRequest, getDefaultClient } from "./client.js";

export interface FetchInit extends Omit<RequestInit, "body"> {
  body?: BodyInit | null;
  /** Send with this Client instead of the default one. */
  client?: Client;
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);

export async function fetch(
  input: string | URL | Request,
  init: FetchInit = {},
): Promise<globalThis.Response> {
  const client = init.client ?? getDefaultClient();
  let url: string;
  let method = init.method;
  let headers: HeadersInit | undefined = init.headers;
  let body: BodyInit | null | undefined = init.body;
  let signal = init.signal ?? undefined;
  let redirect = init.redirect;
  if (input instanceof Request) {
    url = input.url;
    method ??= input.method;
    headers ??= input.headers;
    if (body === undefined && input.body !== null) body = input.body as ReadableStream<Uint8Array>;
    signal ??= input.signal;
    redirect ??= input.redirect;
  } else {
    url = String(input);
  }
  method = normalizeMethod(method ?? "GET");
  if ((method === "GET" || method === "HEAD") && body != null) {
    throw new TypeError("Request with GET/HEAD method cannot have body.");
  }
  if (signal?.aborted) throw signal.reason;

  const req: ClientRequest = { url, method };
  if (headers !== undefined) req.headers = headers as ClientRequest["headers"];
  if (body != null) req.body = body;
  if (signal) req.signal = signal;
  let target: Client = client;
  if (redirect === "manual" || redirect === "error") {
    target = new Client({
      transport: client.transport,
      timeout: client.timeout,
      maxRedirects: client.maxRedirects,
      ...(client.jar ? { jar: client.jar } : {}),
      checkRedirect: () => {
        if (redirect === "error") throw new TypeError("redirect mode is set to error");
        return false;
      },
    });
  }

  let res: RtResponse;
  try {
    res = await target.do(req);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw new TypeError("fetch failed", { cause: err });
  }
  if (res.status < 200) {
    await res.close();
    throw new TypeError("fetch failed", {
      cause: new RoundtripError("ERR_BAD_RESPONSE", `status ${res.status} cannot be returned by fetch`),
    });
  }
  const nullBody = NULL_BODY_STATUS.has(res.status) || method === "HEAD";
  if (nullBody) await res.close();
  const out = new globalThis.Response(nullBody ? null : res.body.webStream(), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers.raw(),
  });
  Object.defineProperty(out, "url", { value: res.url.replace(/#.*$/, ""), enumerable: true });
  Object.defineProperty(out, "redirected", { value: res.redirected, enumerable: true });
  return out;
}

const NORMALIZED = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
function normalizeMethod(m: string): string {
  const up = m.toUpperCase();
  return NORMALIZED.has(up) ? up : m;
}
