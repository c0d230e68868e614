/**
 * `npm run demo`: starts a loopback server and shows, in plain words, what roundtrip does:
 * keep-alive reuse, the pool's stats, a streamed download, a streamed upload in constant
 * memory (zero copy when the addon is built), redirects with cookies, and strict errors.
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { Client, file, type RoundtripError, Transport, zeroCopy } from "../index.js";

const MiB = 1024 * 1024;

function say(title: string, ...lines: string[]): void {
  console.log(`\n▸ ${title}`);
  for (const l of lines) console.log(`  ${l}`);
}

async function main(): Promise<void> {
  let connections = 0;
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hello") return void res.end("hello from the loopback server\n");
    if (url.pathname === "/download") {
      const size = Number(url.searchParams.get("mib") ?? "8") * MiB;
      res.setHeader("content-length", size);
      const chunk = Buffer.alloc(256 * 1024, 120);
      for (let sent = 0; sent < size; sent += chunk.length) {
        if (!res.write(chunk)) await once(res, "drain");
      }
      return void res.end();
    }
    if (url.pathname === "/upload") {
      let n = 0;
      for await (const c of req) n += (c as Buffer).length;
      return void res.end(JSON.stringify({ received: n }));
    }
    if (url.pathname === "/login") {
      res.writeHead(302, { location: "/account", "set-cookie": "session=s3cr3t; Path=/" });
      return void res.end();
    }
    if (url.pathname === "/account")
      return void res.end(`cookie seen by server: ${req.headers.cookie ?? "(none)"}`);
    if (url.pathname === "/bad") {
      // Two different Content-Length values: a response-smuggling shape.
      req.socket.end("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  server.on("connection", () => connections++);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`roundtrip demo — server on ${base}`);

  const transport = new Transport({ maxIdleConnsPerHost: 8 });
  const cookies = new Map<string, string>();
  const client = new Client({
    transport,
    jar: {
      getCookieString: () => [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
      setCookie: (c) => {
        const [pair] = c.split(";");
        const [k, v] = pair!.split("=");
        cookies.set(k!.trim(), (v ?? "").trim());
      },
    },
  });

  // 1. Keep-alive: three requests, one TCP connection.
  const lines: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const res = await client.get(`${base}/hello`);
    const text = (await res.text()).trim();
    lines.push(`#${i}: ${res.status} "${text}" — connection ${res.conn.reused ? "reused" : "new"}`);
  }
  lines.push(
    `server accepted ${connections} TCP connection(s); pool: ${JSON.stringify(pick(transport.stats()))}`,
  );
  say("Keep-alive: sequential requests share one connection", ...lines);

  // 2. Concurrency: 20 at once open up to 20 connections; 8 stay idle (maxIdleConnsPerHost).
  const before = connections;
  await Promise.all(Array.from({ length: 20 }, () => client.get(`${base}/hello`).then((r) => r.text())));
  say(
    "Twenty requests at once",
    `new connections: ${connections - before}; idle kept afterwards: ${transport.stats().idle} (maxIdleConnsPerHost = 8)`,
  );

  // 3. Streamed download straight to a file, memory flat.
  const dir = await mkdtemp(join(tmpdir(), "roundtrip-demo-"));
  try {
    const out = join(dir, "download.bin");
    const rss0 = process.memoryUsage().rss;
    const res = await client.get(`${base}/download?mib=64`);
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss - rss0)), 5);
    await pipeline(res.body.stream(), createWriteStream(out));
    clearInterval(timer);
    say(
      "Streamed download: 64 MiB piped to a file",
      `wrote ${(await stat(out)).size / MiB} MiB; RSS grew by at most ${(peak / MiB).toFixed(1)} MiB while streaming`,
    );

    // 4. Streamed upload of the same file: file() knows its length; sendfile(2) when available.
    const up = await client.post(`${base}/upload`, { body: file(out) });
    say(
      "Upload with file(): Content-Length from the file, body streamed",
      `server received ${(((await up.json()) as { received: number }).received / MiB).toFixed(0)} MiB`,
      `zero-copy sendfile(2): ${zeroCopy.available ? "on" : `off (${zeroCopy.reason})`}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  // 5. Redirect with a cookie set on the first hop and sent on the second.
  const acct = await client.get(`${base}/login`);
  say(
    "Redirect + cookie jar",
    `${acct.status} ${acct.url} (redirected: ${acct.redirected})`,
    await acct.text(),
  );

  // 6. Strictness: an ambiguous response is refused, not guessed.
  try {
    await (await client.get(`${base}/bad`)).text();
    say("Strict parsing", "unexpected: the ambiguous response was accepted");
  } catch (err) {
    const e = err as RoundtripError;
    say("Strict parsing: two different Content-Length values", `${e.code}: ${e.message}`);
  }
  try {
    await client.get(`${base}/hello`, { headers: { "X-Evil": "a\r\nInjected: yes" } });
  } catch (err) {
    const e = err as RoundtripError;
    say("Header injection refused before a byte is written", `${e.code}: ${e.message}`);
  }

  await transport.close();
  server.close();
  say("Closed", `pool after close: ${JSON.stringify(pick(transport.stats()))}`);
}

function pick(s: { total: number; active: number; idle: number; dialing: number; waiting: number }) {
  return { total: s.total, active: s.active, idle: s.idle, dialing: s.dialing, waiting: s.waiting };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
