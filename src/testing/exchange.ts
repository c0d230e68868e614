/**
 * What a fake RoundTripper does around a reply so that the caller sees what a Transport
 * would give: the request read as the wire would carry it (body bytes, Content-Type of
 * json/form), and the response shaped as a received one — no body for HEAD, 204 and
 * 304, transparent decoding of a Content-Encoding the transport would have asked for
 * (the Transport's own decoder, src/transport/decode.ts), the request's URL, download
 * progress, and the request's signal failing a body still being read.
 */
import { BodyBuffer, type BodySource } from "../body/incoming.js";
import { bodyReadFailed, type OutgoingBody, toChunk } from "../body/outgoing.js";
import { Headers } from "../http1/headers.js";
import { createDecoder } from "../transport/decode.js";
import { abortError, wantsDecoding } from "../transport/exchange.js";
import type { PreparedRequest } from "../transport/prepared.js";
import { Response, responseBuffer } from "../transport/response.js";

/** The whole request body, as the connection would have sent it. */
export async function readRequestBody(body: OutgoingBody | null): Promise<Uint8Array> {
  if (body === null) return EMPTY;
  if (body.kind === "bytes") return body.bytes!;
  const parts: Buffer[] = [];
  try {
    if (body.kind === "file") {
      const opened = await body.file!.open();
      try {
        for await (const c of opened.chunks()) parts.push(c);
      } finally {
        await opened.close();
      }
    } else {
      for await (const c of body.open!()) parts.push(toChunk(c));
    }
  } catch (err) {
    throw bodyReadFailed(err);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

const EMPTY = new Uint8Array(0);

/** The error a Transport gives for an aborted request (the Transport's own, exchange.ts). */
export { abortError };

export interface ShapeOptions {
  /** The Transport's disableCompression: leave Content-Encoding bodies encoded. */
  disableCompression: boolean;
}

/** `res` as the Transport would have delivered it for `req`. */
export function asReceived(res: Response, req: PreparedRequest, o: ShapeOptions): Response {
  let out = res;
  if (out.url === "") out.url = req.target.url.href;
  const bodyless = req.isHead || out.status === 204 || out.status === 304 || out.status < 200;
  if (bodyless) out = withoutBody(out, req);
  else if (!o.disableCompression && out.status !== 206 && wantsDecoding(req)) {
    const ce = out.headers.get("content-encoding");
    if (ce !== null) out = decoded(out, ce) ?? out;
  }
  watch(out, req);
  return out;
}

function headOf(res: Response, headers: Headers, contentLength: number) {
  return {
    status: res.status,
    statusText: res.statusText,
    httpVersion: res.httpVersion,
    headers,
    contentLength,
    url: res.url,
    timings: res.timings,
    conn: res.conn,
  };
}

/** HEAD, 204, 304 and 1xx carry no body on the wire, whatever the fake gave. */
function withoutBody(res: Response, req: PreparedRequest): Response {
  void res.body.close().catch(() => {});
  const buffer = new BodyBuffer(null, 0);
  buffer.end();
  // As the Transport reports it: a HEAD or 304 keeps the Content-Length it announces (-1
  // without one: the body given to the fake says nothing about it), a 204 has 0.
  const declared = res.headers.get("content-length");
  const announced = declared !== null && /^[0-9]{1,15}$/.test(declared) ? Number(declared) : -1;
  const length = req.isHead || res.status === 304 ? announced : 0;
  const out = new Response(headOf(res, res.headers, length), buffer);
  out.redirected = res.redirected;
  return out;
}

/**
 * The body decoded by the Transport's decoder, or null for a coding it does not decode
 * (then the body stays as sent, as the Transport leaves it).
 */
function decoded(res: Response, contentEncoding: string): Response | null {
  const out = new BodyBuffer(null, null);
  let stopped = false;
  let paused = false;
  let wake: (() => void) | null = null;
  const raw = res.body;
  const exchange: BodySource = {
    pause() {},
    resume() {},
    discard() {
      stopped = true;
      decoder?.destroy();
      return raw.close();
    },
    abandon() {
      stopped = true;
      decoder?.destroy();
      void raw.close().catch(() => {});
    },
  };
  const flow = {
    pauseReading() {
      paused = true;
    },
    resumeReading() {
      paused = false;
      const w = wake;
      wake = null;
      w?.();
    },
  };
  const decoder = createDecoder(contentEncoding, out, flow, exchange);
  if (decoder === null) return null;
  const headers = new Headers(res.headers);
  headers.delete("content-encoding");
  headers.delete("content-length");
  const result = new Response(headOf(res, headers, -1), out);
  result.uncompressed = true;
  result.redirected = res.redirected;
  void (async () => {
    const it = raw[Symbol.asyncIterator]();
    try {
      while (true) {
        const r = await it.next();
        if (stopped) return;
        if (r.done) break;
        decoder.write(r.value as Buffer);
        while (paused && !stopped) await new Promise<void>((resolve) => (wake = resolve));
        if (stopped) return;
      }
      if (res.trailers.size > 0) out.trailers = res.trailers;
      decoder.end();
    } catch (err) {
      if (stopped) return;
      decoder.destroy();
      out.fail(err as Error);
    }
  })();
  return result;
}

/** Download progress, and the request's signal failing a body still being read. */
function watch(res: Response, req: PreparedRequest): void {
  const buffer = responseBuffer(res);
  const onProgress = req.onDownloadProgress;
  if (onProgress !== null) {
    buffer.onProgress = onProgress;
    // What came with the reply was pushed before anyone listened: report it once.
    if (buffer.received > 0 || buffer.done) onProgress({ loaded: buffer.received, total: buffer.total });
  }
  const signal = req.signal;
  if (signal === null || buffer.done || buffer.discarded) return;
  const onAbort = () => {
    if (buffer.done || buffer.discarded) return;
    buffer.fail(abortError(req));
    buffer.discarded = true;
    void buffer.source?.discard();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  res._onBodySettled(() => signal.removeEventListener("abort", onAbort));
}
