/**
 * The connection flags with curl's meaning, each against a loopback peer that can tell
 * them apart: -m (exit 2), a refused port (exit 1, -s / -S), --unix-socket, -4, TLS with
 * --cacert and -k, --http2 over ALPN, an HTTPS request through an HTTP CONNECT proxy (-x),
 * transparent gzip (and --no-compressed), and Ctrl-C (exit 130).
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";
import { exited, type RecordingServer, recordingServer, run, T, tempDir } from "./helpers.js";

let plain: RecordingServer;
before(async () => {
  plain = await recordingServer((req, res) => {
    if (req.url === "/hold") return; // never answers
    if (req.url === "/gzip") {
      res.writeHead(200, { "Content-Encoding": "gzip", "Content-Type": "text/plain" });
      return void res.end(gzipSync("decoded text\n"));
    }
    res.end(`plain ${req.headers.host}\n`);
  });
});
after(() => plain.close());

async function listen(server: net.Server, where: number | string = 0, host = "127.0.0.1"): Promise<number> {
  if (typeof where === "string") server.listen(where);
  else server.listen(where, host);
  await once(server, "listening");
  return typeof where === "string" ? 0 : (server.address() as AddressInfo).port;
}

function closeServer(server: net.Server): Promise<void> {
  (server as http.Server).closeAllConnections?.();
  return new Promise((r) => server.close(() => r()));
}

describe("network flags", () => {
  test("-m: a server that never answers ends in a timeout, exit 2", T, async () => {
    const r = await run(["-m", "0.3", `${plain.url}/hold`]);
    exited(r, 2);
    assert.match(r.stderr, /timeout/i);
  });

  test("a refused port: exit 1 and a message; -s hides it, -sS shows it", T, async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await closeServer(probe);
    let r = await run([`http://127.0.0.1:${port}/`]);
    exited(r, 1);
    assert.match(r.stderr, /cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    r = await run(["-s", `http://127.0.0.1:${port}/`]);
    exited(r, 1);
    assert.equal(r.stderr, "");
    r = await run(["-sS", `http://127.0.0.1:${port}/`]);
    exited(r, 1);
    assert.match(r.stderr, /ECONNREFUSED/);
  });

  test("--unix-socket: the request goes to the socket, the Host still from the URL", T, async (t) => {
    const path = join(tempDir(t), "s.sock");
    const server = http.createServer((req, res) => res.end(`unix ${req.headers.host} ${req.url}`));
    await listen(server, path);
    t.after(() => closeServer(server));
    const r = await run(["--unix-socket", path, "http://api.internal/v1?x=1"]);
    exited(r, 0);
    assert.equal(r.out, "unix api.internal /v1?x=1");
  });

  test("-4: localhost resolves to an IPv4 address only", T, async () => {
    const r = await run(["-4", "-w", "\n%{remote_ip}", `http://localhost:${plain.port}/`]);
    exited(r, 0);
    assert.equal(r.out, `plain localhost:${plain.port}\n\n127.0.0.1`);
  });

  test("https: --cacert trusts the test certificate; without it exit 1; -k accepts any", T, async (t) => {
    const server = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) => res.end("secure\n"));
    const port = await listen(server);
    t.after(() => closeServer(server));
    const ca = join(tempDir(t), "ca.pem");
    writeFileSync(ca, TLS_CERT);
    const url = `https://localhost:${port}/`;
    let r = await run(["--cacert", ca, url]);
    exited(r, 0);
    assert.equal(r.out, "secure\n");
    r = await run([url]);
    exited(r, 1);
    assert.match(r.stderr, /TLS handshake with localhost failed/);
    r = await run(["-k", url]);
    exited(r, 0);
    assert.equal(r.out, "secure\n");
  });

  test("--http2 negotiates h2 by ALPN; the default is HTTP/1.1", T, async (t) => {
    const server = http2.createSecureServer({ key: TLS_KEY, cert: TLS_CERT, allowHTTP1: true }, (req, res) =>
      res.end(`v${req.httpVersion}`),
    );
    const port = await listen(server);
    t.after(() => closeServer(server));
    const url = `https://localhost:${port}/`;
    let r = await run(["-k", "--http2", "-w", " %{http_version}", url]);
    exited(r, 0);
    assert.equal(r.out, "v2.0 2");
    r = await run(["-k", "-w", " %{http_version}", url]);
    exited(r, 0);
    assert.equal(r.out, "v1.1 1.1");
  });

  test(
    "-x: an https request through an HTTP CONNECT proxy; --timings shows the proxy setup",
    T,
    async (t) => {
      const origin = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (_req, res) =>
        res.end("via proxy\n"),
      );
      const originPort = await listen(origin);
      t.after(() => closeServer(origin));
      const connects: string[] = [];
      const proxy = net.createServer((client) => {
        client.once("data", (head: Buffer) => {
          const line = head.toString("latin1").split("\r\n", 1)[0]!;
          connects.push(line);
          const [, target] = line.split(" ");
          const [host, port] = target!.split(":");
          const upstream = net.connect(Number(port), host === "localhost" ? "127.0.0.1" : host, () => {
            client.write("HTTP/1.1 200 Connection established\r\n\r\n");
            client.pipe(upstream).pipe(client);
          });
          upstream.on("error", () => client.destroy());
          client.on("error", () => upstream.destroy());
        });
      });
      const proxyPort = await listen(proxy);
      t.after(() => closeServer(proxy));
      const r = await run([
        "-k",
        "-x",
        `127.0.0.1:${proxyPort}`,
        "--timings",
        `https://localhost:${originPort}/`,
      ]);
      exited(r, 0);
      assert.equal(r.out, "via proxy\n");
      assert.deepEqual(connects, [`CONNECT localhost:${originPort} HTTP/1.1`]);
      assert.match(r.stderr, /Proxy Setup/);
      assert.match(r.stderr, /proxy setup \(CONNECT or SOCKS handshake, if any\) took/);
      assert.match(r.stderr, new RegExp(`new connection \\(proxy 127\\.0\\.0\\.1:${proxyPort}\\)`));
    },
  );

  test("gzip is decoded by default (--compressed); --no-compressed gives the raw bytes", T, async () => {
    let r = await run([`${plain.url}/gzip`]);
    exited(r, 0);
    assert.equal(r.out, "decoded text\n");
    assert.equal(plain.seen[plain.seen.length - 1]!.headers["accept-encoding"], "gzip, deflate, br");
    r = await run(["--no-compressed", `${plain.url}/gzip`]);
    exited(r, 0);
    assert.ok(r.stdout.equals(gzipSync("decoded text\n")));
    assert.equal(plain.seen[plain.seen.length - 1]!.headers["accept-encoding"], undefined);
  });

  test("Ctrl-C while waiting for the response: exit 130", T, async () => {
    let child: ChildProcess | undefined;
    // The server holds the request; interrupt once it has arrived.
    const onRequest = (req: http.IncomingMessage) => {
      if (req.url === "/hold") child?.kill("SIGINT");
    };
    plain.server.on("request", onRequest);
    const r = await run([`${plain.url}/hold`], { onSpawn: (c) => (child = c), limit: 15_000 });
    plain.server.off("request", onRequest);
    exited(r, 130);
    assert.match(r.stderr, /interrupted/);
  });
});
