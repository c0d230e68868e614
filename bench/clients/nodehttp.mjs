// node:http with a keep-alive Agent (no socket limit), the way Node users tune it.

import { createReadStream } from "node:fs";
import http from "node:http";
import { checkLength, checkStatus, consumeReadable } from "./common.mjs";

function keepAliveAgent() {
  return new http.Agent({ keepAlive: true, keepAliveMsecs: 30_000 });
}

function options(ctx, agent) {
  const u = new URL(ctx.url);
  const headers = { ...ctx.headers };
  if (ctx.body) headers["content-length"] = String(ctx.body.length);
  return {
    agent,
    host: u.hostname,
    port: Number(u.port),
    path: u.pathname + u.search,
    method: ctx.method,
    headers,
  };
}

export const variants = {
  "node:http": {
    rps(ctx) {
      const agent = keepAliveAgent();
      const opts = options(ctx, agent);
      return {
        send(cb) {
          const req = http.request(opts, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d) => {
              text += d;
            });
            res.on("end", () => {
              try {
                checkStatus(res.statusCode);
                checkLength(text.length, ctx.expectBytes);
                cb(null);
              } catch (e) {
                cb(e);
              }
            });
            res.on("error", cb);
          });
          req.on("error", cb);
          req.end(ctx.body ?? undefined);
        },
        async close() {
          agent.destroy();
        },
      };
    },
    upload(ctx) {
      const agent = keepAliveAgent();
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            ...options({ ...ctx, method: "PUT", headers: {}, body: null }, agent),
            headers: { "content-length": String(ctx.size), "content-type": "application/octet-stream" },
          },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (d) => {
              text += d;
            });
            res.on("end", () => {
              agent.destroy();
              try {
                checkStatus(res.statusCode);
                resolve(text);
              } catch (e) {
                reject(e);
              }
            });
          },
        );
        req.on("error", reject);
        const file = createReadStream(ctx.filePath);
        file.on("error", reject);
        file.pipe(req);
      });
    },
    download(ctx) {
      const agent = keepAliveAgent();
      return new Promise((resolve, reject) => {
        const req = http.get(options({ ...ctx, method: "GET", headers: {}, body: null }, agent), (res) => {
          if (res.statusCode !== 200) return reject(new Error(`unexpected status ${res.statusCode}`));
          consumeReadable(res, ctx.consume).then(() => {
            agent.destroy();
            resolve();
          }, reject);
        });
        req.on("error", reject);
      });
    },
  },
};
