// Helpers shared by the client adapters.
//
// An adapter module exports `variants`: { [clientName]: { rps?, upload?, multipart?, download? } }.
//   rps(ctx)       → { send(cb), close() }: send() issues one request and reads the whole
//                    response body, then calls cb(err). The harness keeps `concurrency`
//                    sends in flight. Callback-shaped so the floor and undici.dispatch pay
//                    no promise; promise clients go through `fromPromise`.
//   upload(ctx)    → Promise: PUT ctx.filePath (ctx.size bytes) to ctx.url, read the reply.
//   multipart(ctx) → Promise: POST ctx.filePath as a multipart/form-data file part.
//   download(ctx)  → Promise: GET ctx.url and feed every chunk to ctx.consume(chunk), which
//                    returns a promise when the (slow-ish) consumer wants the producer to wait.
//   save(ctx)      → Promise: GET ctx.url into the file ctx.outPath (the runner checks its size).
//
// ctx (rps): { url, origin, path, method, body: Buffer|null, headers, concurrency, expectBytes }

/** Adapts `fn(): Promise<void>` to the callback shape. */
export function fromPromise(fn, close = async () => {}) {
  return {
    send(cb) {
      fn().then(() => cb(null), cb);
    },
    close,
  };
}

/** 200, or 201/204 from nginx's WebDAV PUT sink (the upload was stored). */
export function checkStatus(status, what = "response") {
  if (status !== 200 && status !== 201 && status !== 204)
    throw new Error(`${what}: unexpected status ${status}`);
}

export function checkLength(got, want) {
  if (want !== undefined && got !== want) throw new Error(`body length ${got}, expected ${want}`);
}

/** Reads a Node Readable to the end, feeding ctx.consume with backpressure. */
export async function consumeReadable(readable, consume) {
  for await (const chunk of readable) {
    const p = consume(chunk);
    if (p) await p;
  }
}
