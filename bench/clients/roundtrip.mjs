// roundtrip, from ../../dist (run `npm run build` first; bench/run.mjs does).
// Written against the public API (docs/design.md). While parts of that API are missing, the
// calls below throw a clear error and the runner marks the row unavailable.

import { createWriteStream, openAsBlob } from "node:fs";
import { resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { pathToFileURL } from "node:url";
import { checkLength, checkStatus, fromPromise } from "./common.mjs";

// BENCH_ROUNDTRIP_DIST points at another build (e.g. a copy of dist/ before a change) to
// compare two versions of roundtrip in the same run conditions.
const DIST = process.env.BENCH_ROUNDTRIP_DIST
  ? pathToFileURL(resolve(process.env.BENCH_ROUNDTRIP_DIST))
  : new URL("../../dist/index.js", import.meta.url);

// Loaded with this module, as the other adapters load their library with theirs: the
// child starts its clock after loading the adapter, so module loading (~35 ms of CPU for
// roundtrip's ESM graph and its addon) is never counted in a transfer's CPU.
const loaded = await import(DIST.href).catch((e) => e);

async function load(...names) {
  if (loaded instanceof Error) throw loaded;
  const rt = loaded;
  for (const n of names) {
    if (rt[n] === undefined) throw new Error(`dist/index.js does not export ${n}`);
  }
  return rt;
}

/** A Transport sized for the run, so idle-pool trimming does not add dials at c=50. */
async function makeTransport(ctx, rt) {
  const per = Math.max(32, ctx.concurrency ?? 1);
  return new rt.Transport({ maxIdleConnsPerHost: per, maxIdleConns: 0 });
}

async function transportAndClient(ctx) {
  const rt = await load("Client", "Transport");
  const transport = await makeTransport(ctx, rt);
  return { rt, transport, client: new rt.Client({ transport }) };
}

/** Extra facts the runner prints beside the figures. */
export async function describe() {
  return { zeroCopy: loaded instanceof Error ? null : (loaded.zeroCopy ?? null) };
}

export const variants = {
  "roundtrip.request": {
    async rps(ctx) {
      const { transport, client } = await transportAndClient(ctx);
      const opts = { method: ctx.method, body: ctx.body ?? undefined, headers: ctx.headers };
      return fromPromise(
        async () => {
          const res = await client.request(ctx.url, opts);
          const text = await res.text();
          checkStatus(res.status);
          checkLength(text.length, ctx.expectBytes);
        },
        () => transport.close(),
      );
    },
    // file(path): Content-Length framing, sendfile(2) when the addon is loaded; the
    // runner runs it a second time with ROUNDTRIP_NO_ZEROCOPY=1.
    async upload(ctx) {
      const { rt, transport, client } = await transportAndClient(ctx);
      if (typeof rt.file !== "function") throw new Error("dist/index.js does not export file");
      const res = await client.request(ctx.url, {
        method: "PUT",
        body: rt.file(ctx.filePath),
        headers: { "content-type": "application/octet-stream" },
      });
      const reply = await res.text();
      checkStatus(res.status);
      await transport.close();
      return reply;
    },
    async multipart(ctx) {
      const { rt, transport, client } = await transportAndClient(ctx);
      if (typeof rt.file !== "function") throw new Error("dist/index.js does not export file");
      const res = await client.request(ctx.url, { method: "POST", form: { file: rt.file(ctx.filePath) } });
      const reply = await res.text();
      checkStatus(res.status);
      await transport.close();
      return reply;
    },
    async download(ctx) {
      const { transport, client } = await transportAndClient(ctx);
      const res = await client.request(ctx.url);
      checkStatus(res.status);
      for await (const chunk of res.body) {
        const p = ctx.consume(chunk);
        if (p) await p;
      }
      await transport.close();
    },
    // body.saveTo: splice(2) socket -> file on plain TCP when the addon is loaded; the
    // runner runs it a second time with ROUNDTRIP_NO_ZEROCOPY=1 (the write loop).
    async save(ctx) {
      const { transport, client } = await transportAndClient(ctx);
      const res = await client.request(ctx.url);
      checkStatus(res.status);
      if (typeof res.body.saveTo !== "function") throw new Error("this build has no body.saveTo");
      const { bytes, zeroCopy } = await res.body.saveTo(ctx.outPath);
      checkLength(bytes, ctx.size);
      if (zeroCopy !== (process.env.ROUNDTRIP_NO_ZEROCOPY !== "1"))
        throw new Error(`saveTo took the ${zeroCopy ? "splice" : "write"} path`);
      await transport.close();
    },
  },

  // What a user writes without saveTo: the body's Readable piped into a file stream.
  "roundtrip.request (pipeline)": {
    async save(ctx) {
      const { transport, client } = await transportAndClient(ctx);
      const res = await client.request(ctx.url);
      checkStatus(res.status);
      await pipeline(res.body.stream(), createWriteStream(ctx.outPath));
      await transport.close();
    },
  },

  // The same upload as a global FormData with an fs.openAsBlob part, as undici is fed.
  "roundtrip.request (FormData)": {
    async multipart(ctx) {
      const { transport, client } = await transportAndClient(ctx);
      const form = new FormData();
      form.append("file", await openAsBlob(ctx.filePath), "big.bin");
      const res = await client.request(ctx.url, { method: "POST", body: form });
      const reply = await res.text();
      checkStatus(res.status);
      await transport.close();
      return reply;
    },
  },

  "roundtrip.roundTrip": {
    async rps(ctx) {
      const transport = await makeTransport(ctx, await load("Transport"));
      const req = { url: ctx.url, method: ctx.method, body: ctx.body ?? undefined, headers: ctx.headers };
      return fromPromise(
        async () => {
          const res = await transport.roundTrip(req);
          const bytes = await res.bytes();
          checkStatus(res.status);
          checkLength(bytes.length, ctx.expectBytes);
        },
        () => transport.close(),
      );
    },
  },

  // fetch() runs on the default Client and its default Transport: no tuning possible,
  // which is the point of measuring it.
  "roundtrip.fetch": {
    async rps(ctx) {
      // Same sized Transport as the other roundtrip rows, through fetch's `client` field.
      const { rt, client } = await transportAndClient(ctx);
      if (typeof rt.fetch !== "function") throw new Error("dist/index.js does not export fetch");
      const init = { method: ctx.method, body: ctx.body ?? undefined, headers: ctx.headers, client };
      return fromPromise(async () => {
        const res = await rt.fetch(ctx.url, init);
        const text = await res.text();
        checkStatus(res.status);
        checkLength(text.length, ctx.expectBytes);
      });
    },
    async download(ctx) {
      const rt = await load("fetch");
      const res = await rt.fetch(ctx.url);
      checkStatus(res.status);
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const p = ctx.consume(value);
        if (p) await p;
      }
    },
  },
};
