// got v14 with the same keep-alive node:http Agent, retries off (a retry would hide an error).

import { createReadStream } from "node:fs";
import http from "node:http";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import got from "got";
import { checkLength, checkStatus, fromPromise } from "./common.mjs";

function client() {
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 });
  return {
    agent,
    got: got.extend({ agent: { http: agent }, retry: { limit: 0 }, timeout: { request: 60_000 } }),
  };
}

export const variants = {
  got: {
    rps(ctx) {
      const { agent, got: g } = client();
      const opts = { method: ctx.method, body: ctx.body ?? undefined, headers: ctx.headers };
      return fromPromise(
        async () => {
          const res = await g(ctx.url, opts);
          checkStatus(res.statusCode);
          checkLength(res.body.length, ctx.expectBytes);
        },
        async () => agent.destroy(),
      );
    },
    async upload(ctx) {
      const { agent, got: g } = client();
      const res = await g.put(ctx.url, {
        body: createReadStream(ctx.filePath),
        headers: { "content-length": String(ctx.size), "content-type": "application/octet-stream" },
        timeout: { request: 600_000 },
      });
      checkStatus(res.statusCode);
      agent.destroy();
      return res.body;
    },
    async download(ctx) {
      const { agent, got: g } = client();
      await pipeline(
        g.stream(ctx.url, { timeout: { request: 600_000 } }),
        new Writable({
          write(chunk, _enc, cb) {
            const p = ctx.consume(chunk);
            if (p) p.then(() => cb(), cb);
            else cb();
          },
        }),
      );
      agent.destroy();
    },
  },
};
