// undici (the npm package, v7): request, stream, dispatch and fetch, each on a dedicated
// Agent with default options (what the global dispatcher would be).

import { createReadStream, createWriteStream, openAsBlob } from "node:fs";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, FormData, fetch, Pool, request, stream } from "undici";
import { checkLength, checkStatus, consumeReadable, fromPromise } from "./common.mjs";

function agent() {
  return new Agent();
}

/** A Writable that drops what it is given; undici.stream needs one per response. */
function sink() {
  return new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  });
}

export const variants = {
  "undici.request": {
    rps(ctx) {
      const dispatcher = agent();
      const opts = { method: ctx.method, body: ctx.body, headers: ctx.headers, dispatcher };
      return fromPromise(
        async () => {
          const { statusCode, body } = await request(ctx.url, opts);
          const text = await body.text();
          checkStatus(statusCode);
          checkLength(text.length, ctx.expectBytes);
        },
        () => dispatcher.close(),
      );
    },
    async upload(ctx) {
      const dispatcher = agent();
      const { statusCode, body } = await request(ctx.url, {
        method: "PUT",
        body: createReadStream(ctx.filePath),
        headers: { "content-length": String(ctx.size), "content-type": "application/octet-stream" },
        dispatcher,
      });
      const reply = await body.text();
      checkStatus(statusCode);
      await dispatcher.close();
      return reply;
    },
    async multipart(ctx) {
      const dispatcher = agent();
      const form = new FormData();
      form.append("file", await openAsBlob(ctx.filePath), "big.bin");
      const { statusCode, body } = await request(ctx.url, { method: "POST", body: form, dispatcher });
      const reply = await body.text();
      checkStatus(statusCode);
      await dispatcher.close();
      return reply;
    },
    async save(ctx) {
      const dispatcher = agent();
      const { statusCode, body } = await request(ctx.url, { dispatcher });
      checkStatus(statusCode);
      await pipeline(body, createWriteStream(ctx.outPath));
      await dispatcher.close();
    },
    async download(ctx) {
      const dispatcher = agent();
      const { statusCode, body } = await request(ctx.url, { dispatcher });
      checkStatus(statusCode);
      await consumeReadable(body, ctx.consume);
      await dispatcher.close();
    },
  },

  "undici.stream": {
    rps(ctx) {
      const dispatcher = agent();
      const opts = { method: ctx.method, body: ctx.body, headers: ctx.headers, dispatcher };
      const factory = ({ statusCode }) => {
        if (statusCode !== 200) throw new Error(`unexpected status ${statusCode}`);
        return sink();
      };
      return fromPromise(
        () => stream(ctx.url, opts, factory),
        () => dispatcher.close(),
      );
    },
  },

  // The lowest-level API, with a legacy-style handler: undici passes such handlers to its
  // parser unwrapped and raw headers unparsed, which is its fastest path.
  "undici.dispatch": {
    rps(ctx) {
      return dispatchRps(ctx, agent());
    },
  },

  // The same, on a Pool sized like roundtrip's pool for the run (`connections: c`): an
  // Agent's per-origin Pool has no connection limit and opened ~100 connections at c=50.
  "undici.dispatch (Pool)": {
    rps(ctx) {
      return dispatchRps(ctx, new Pool(new URL(ctx.url).origin, { connections: ctx.concurrency ?? 1 }));
    },
  },

  "undici.fetch": {
    rps(ctx) {
      const dispatcher = agent();
      const init = { method: ctx.method, body: ctx.body, headers: ctx.headers, dispatcher };
      return fromPromise(
        async () => {
          const res = await fetch(ctx.url, init);
          const text = await res.text();
          checkStatus(res.status);
          checkLength(text.length, ctx.expectBytes);
        },
        () => dispatcher.close(),
      );
    },
    // With its defaults: an fs.openAsBlob body, as the docs suggest for files.
    async upload(ctx) {
      const dispatcher = agent();
      const res = await fetch(ctx.url, { method: "PUT", body: await openAsBlob(ctx.filePath), dispatcher });
      const reply = await res.text();
      checkStatus(res.status);
      await dispatcher.close();
      return reply;
    },
    async multipart(ctx) {
      const dispatcher = agent();
      const form = new FormData();
      form.append("file", await openAsBlob(ctx.filePath), "big.bin");
      const res = await fetch(ctx.url, { method: "POST", body: form, dispatcher });
      const reply = await res.text();
      checkStatus(res.status);
      await dispatcher.close();
      return reply;
    },
    async download(ctx) {
      const dispatcher = agent();
      const res = await fetch(ctx.url, { dispatcher });
      checkStatus(res.status);
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const p = ctx.consume(value);
        if (p) await p;
      }
      await dispatcher.close();
    },
  },
};

/** undici.dispatch with a legacy-style handler on `dispatcher`: callbacks only, no promise. */
function dispatchRps(ctx, dispatcher) {
  const u = new URL(ctx.url);
  const opts = {
    origin: u.origin,
    path: u.pathname + u.search,
    method: ctx.method,
    body: ctx.body,
    headers: ctx.headers,
  };
  return {
    send(cb) {
      let status = 0;
      let bytes = 0;
      dispatcher.dispatch(opts, {
        onConnect() {},
        onHeaders(statusCode) {
          status = statusCode;
          return true;
        },
        onData(chunk) {
          bytes += chunk.length;
          return true;
        },
        onComplete() {
          if (status !== 200) cb(new Error(`unexpected status ${status}`));
          else if (ctx.expectBytes !== undefined && bytes !== ctx.expectBytes)
            cb(new Error(`got ${bytes} bytes`));
          else cb(null);
        },
        onError(err) {
          cb(err);
        },
      });
    },
    close: () => dispatcher.close(),
  };
}
