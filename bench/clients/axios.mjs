// axios with the same keep-alive node:http Agent, reading the body as text.

import { createReadStream } from "node:fs";
import http from "node:http";
import axios from "axios";
import { checkLength, checkStatus, consumeReadable, fromPromise } from "./common.mjs";

function client() {
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 });
  const instance = axios.create({
    httpAgent: agent,
    responseType: "text",
    maxBodyLength: Number.POSITIVE_INFINITY,
    maxContentLength: Number.POSITIVE_INFINITY,
  });
  return { agent, axios: instance };
}

export const variants = {
  axios: {
    rps(ctx) {
      const { agent, axios: ax } = client();
      const config = { url: ctx.url, method: ctx.method, data: ctx.body ?? undefined, headers: ctx.headers };
      return fromPromise(
        async () => {
          const res = await ax.request(config);
          checkStatus(res.status);
          checkLength(res.data.length, ctx.expectBytes);
        },
        async () => agent.destroy(),
      );
    },
    async upload(ctx) {
      const { agent, axios: ax } = client();
      const res = await ax.put(ctx.url, createReadStream(ctx.filePath), {
        headers: { "content-length": String(ctx.size), "content-type": "application/octet-stream" },
      });
      checkStatus(res.status);
      agent.destroy();
      return res.data;
    },
    async download(ctx) {
      const { agent, axios: ax } = client();
      const res = await ax.get(ctx.url, { responseType: "stream" });
      checkStatus(res.status);
      await consumeReadable(res.data, ctx.consume);
      agent.destroy();
    },
  },
};
