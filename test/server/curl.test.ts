/**
 * serveFile against curl, a client that does not share our assumptions: whole file
 * byte-exact, HEAD, single / multiple / unsatisfiable ranges, resume, conditional requests
 * through curl's own options, connection reuse across a sendfile response (also with
 * tcpCork), HTTP/1.0, and traversal attempts sent verbatim. Fails (with how to fix it)
 * when curl is missing.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { serveFile } from "../../src/server/index.js";
import { type Fixtures, makeFixtures } from "./fixtures.js";
import { curl, parseMultipart, requireCurl, sha256, startServer, T, type TestServer } from "./helpers.js";

let fx: Fixtures;
let server: TestServer;
let base: string;

before(async () => {
  requireCurl();
  fx = makeFixtures();
  server = await startServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const tcpCork = url.searchParams.has("cork");
    return serveFile(req, res, decodeURIComponent(url.pathname), { root: fx.root, tcpCork });
  });
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  await server?.close();
  fx?.remove();
});

/** curl with the response head written to a file; returns status, headers and body. */
async function fetchWithCurl(path: string, args: string[] = []) {
  const headFile = join(fx.base, "head.txt");
  const r = await curl(["--path-as-is", "-D", headFile, ...args, `${base}${path}`]);
  assert.equal(r.code, 0, r.stderr);
  const lines = readFileSync(headFile, "latin1").trim().split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers, body: r.stdout };
}

describe("curl", () => {
  test("whole file, byte-exact (sha256), over the socket route", T, async () => {
    const r = await fetchWithCurl("/big.bin");
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), sha256(fx.big));
    assert.equal((await server.results[server.results.length - 1]!).transfer, "socket");
  });

  test("HEAD (-I): headers only", T, async () => {
    const r = await fetchWithCurl("/big.bin", ["-I"]);
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], String(fx.big.length));
    assert.equal(r.headers["accept-ranges"], "bytes");
  });

  test("ranges: single (-r), several (multipart), resume (-C), unsatisfiable", T, async () => {
    let r = await fetchWithCurl("/big.bin", ["-r", "1000-1999"]);
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, fx.big.subarray(1000, 2000));
    r = await fetchWithCurl("/big.bin", ["-r", "-100"]);
    assert.deepEqual(r.body, fx.big.subarray(fx.big.length - 100));
    r = await fetchWithCurl("/small.dat", ["-r", "0-4,100-104"]);
    assert.equal(r.status, 206);
    const parts = parseMultipart(r.body, r.headers["content-type"]!);
    assert.deepEqual(
      parts.map((p) => p.body),
      [fx.small.subarray(0, 5), fx.small.subarray(100, 105)],
    );
    // Resume a download whose first 5 MB are already on disk.
    const partial = join(fx.base, "partial.bin");
    writeFileSync(partial, fx.big.subarray(0, 5_000_000));
    const resumed = await curl(["-C", "-", "-o", partial, `${base}/big.bin`]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(sha256(readFileSync(partial)), sha256(fx.big));
    r = await fetchWithCurl("/small.dat", ["-r", "5000-"]);
    assert.equal(r.status, 416);
    assert.equal(r.headers["content-range"], "bytes */1000");
  });

  test("conditional: -z (If-Modified-Since / If-Unmodified-Since), If-None-Match, If-Range", T, async () => {
    const head = await fetchWithCurl("/small.dat", ["-I"]);
    const lastModified = head.headers["last-modified"]!;
    const etag = head.headers.etag!;
    assert.equal((await fetchWithCurl("/small.dat", ["-z", lastModified])).status, 304);
    assert.equal((await fetchWithCurl("/small.dat", ["-z", "1 Jan 2001 00:00:00 GMT"])).status, 200);
    assert.equal((await fetchWithCurl("/small.dat", ["-z", "-1 Jan 2001 00:00:00 GMT"])).status, 412);
    assert.equal((await fetchWithCurl("/small.dat", ["-H", `If-None-Match: ${etag}`])).status, 304);
    assert.equal((await fetchWithCurl("/small.dat", ["-H", `If-Match: "stale"`])).status, 412);
    const ranged = ["-r", "0-9", "-H"];
    assert.equal((await fetchWithCurl("/small.dat", [...ranged, `If-Range: ${etag}`])).status, 206);
    assert.equal((await fetchWithCurl("/small.dat", [...ranged, `If-Range: "stale"`])).status, 200);
  });

  test("the connection is reused after a sendfile response", T, async () => {
    const before = server.connections;
    const out1 = join(fx.base, "1.bin");
    const out2 = join(fx.base, "2.bin");
    const out3 = join(fx.base, "3.bin");
    const r = await curl([
      "-w",
      "%{num_connects}\n",
      "-o",
      out1,
      `${base}/big.bin`,
      "-o",
      out2,
      `${base}/small.dat`,
      "-o",
      out3,
      `${base}/big.bin`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split("\n"), ["1", "0", "0"]);
    assert.equal(server.connections, before + 1);
    assert.equal(sha256(readFileSync(out1)), sha256(fx.big));
    assert.deepEqual(readFileSync(out2), fx.small);
    assert.equal(sha256(readFileSync(out3)), sha256(fx.big));
  });

  test("tcpCork: byte-exact whole file and ranges on one reused connection", T, async () => {
    const before = server.connections;
    const out1 = join(fx.base, "c1.bin");
    const out2 = join(fx.base, "c2.bin");
    const out3 = join(fx.base, "c3.bin");
    // --next: the range applies to the second transfer only; the connection is still reused.
    const w = ["-w", "%{num_connects} %{http_code}\n"];
    const r = await curl([
      ...w,
      "-o",
      out1,
      `${base}/big.bin?cork`,
      "--next",
      ...w,
      "-r",
      "5-1000004",
      "-o",
      out2,
      `${base}/big.bin?cork`,
      "--next",
      ...w,
      "-o",
      out3,
      `${base}/small.dat?cork`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.toString().trim().split("\n"), ["1 200", "0 206", "0 200"]);
    assert.equal(server.connections, before + 1);
    assert.equal(sha256(readFileSync(out1)), sha256(fx.big));
    assert.equal(sha256(readFileSync(out2)), sha256(fx.big.subarray(5, 1000005)));
    assert.deepEqual(readFileSync(out3), fx.small);
    const results = await Promise.all(server.results.slice(-3));
    assert.deepEqual(
      results.map((x) => x.transfer),
      ["socket", "socket", "socket"],
    );
  });

  test("HTTP/1.0 (-0): body framed by Content-Length, connection closed", T, async () => {
    const r = await fetchWithCurl("/big.bin", ["-0"]);
    assert.equal(r.status, 200);
    assert.equal(r.headers.connection, "close");
    assert.equal(sha256(r.body), sha256(fx.big));
  });

  test("traversal sent verbatim (--path-as-is) is refused; other methods get 405", T, async () => {
    for (const path of ["/../outside/secret.txt", "/%2e%2e/outside/secret.txt", "/sub/..%2f..%2foutside"]) {
      const r = await fetchWithCurl(path);
      assert.equal(r.status, 400, path);
      assert.ok(!r.body.toString().includes("secret"));
    }
    assert.equal((await fetchWithCurl("/link-out")).status, 403);
    const post = await fetchWithCurl("/small.dat", ["-X", "POST"]);
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, "GET, HEAD");
  });
});
