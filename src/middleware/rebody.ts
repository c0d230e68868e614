/**
 * A Response with another response's head and a body the middleware produces (the
 * cache's tee into its store, retry's stitched resumption), built with the public
 * Response constructor so it behaves as a received one.
 */
import { Headers } from "../http1/headers.js";
import { Response, responseBuffer } from "../transport/response.js";

/**
 * A body source for `new Response()`: the chunks of `chunks()`, pulled one at a time (the
 * Response's buffer applies backpressure); when the reader gives up, `cancel()` runs
 * (it must make a pending read settle, by closing what the chunks come from) and the
 * generator is returned, so its `finally` runs.
 */
export function pulled(
  chunks: AsyncGenerator<Uint8Array, void, undefined>,
  cancel: () => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await chunks.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      cancel() {
        cancel();
        void chunks.return(undefined).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * `res`'s status, fields, URL and exchange facts (timings, conn, contentLength,
 * uncompressed, redirected, retries, cache) over `body`. `trailers()` is read once the
 * body has ended and becomes the new response's trailers.
 */
export function withBody(
  res: Response,
  body: ReadableStream<Uint8Array>,
  trailers: () => Iterable<[string, string]>,
): Response {
  const out = new Response(body, {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
    url: res.url,
    httpVersion: res.httpVersion,
  });
  copyFacts(res, out);
  // The constructor takes trailers up front; these are known only at the end. The buffer
  // settles (end, failure or discard) before a reader waiting for the end resumes.
  const buffer = responseBuffer(out);
  out._onBodySettled(() => {
    if (!buffer.done || buffer.error !== null) return;
    const fields = [...trailers()];
    if (fields.length > 0) buffer.trailers = new Headers(fields);
  });
  return out;
}

/** What the constructor does not take: the facts of the exchange that produced `from`. */
export function copyFacts(from: Response, to: Response): void {
  to.contentLength = from.contentLength;
  to.uncompressed = from.uncompressed;
  to.redirected = from.redirected;
  to.timings = from.timings;
  to.conn = from.conn;
  to.retries = from.retries;
  to.cache = from.cache;
}
