/**
 * serveFile and serveContent behind real node:http servers, exercised with node:http's
 * client and with a raw keep-alive connection: bodies byte-exact, every precondition,
 * every kind of Range, HEAD, 405, content types, path safety, and the transfer route taken
 * (socket for plain TCP, stream for TLS / HTTP/2 / readers without an fd).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { once } from "node:events";
import { chmodSync, cpSync, statSync, writeFileSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { sendFileStats, zeroCopy } from "../../src/body/zerocopy.js";
import { type ContentReader, type ServeResult, serveContent, serveFile } from "../../src/server/index.js";
import { type Fixtures, makeFixtures } from "./fixtures.js";
import { get, parseMultipart, RawConnection, sha256, startServer, T, type TestServer } from "./helpers.js";

let fx: Fixtures;
let server: TestServer;

/** Maps the URL path into the fixture root; `?stream` turns zero-copy off. */
function handler(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) {
  const url = new URL(req.url ?? "/", "http://x");
  return serveFile(req, res, decodeURIComponent(url.pathname), {
    root: fx.root,
    index: url.searchParams.has("index") ? "index.html" : false,
    zeroCopy: !url.searchParams.has("stream"),
    rejectOtherMethods: !url.searchParams.has("anymethod"),
  });
}

before(async () => {
  fx = makeFixtures();
  server = await startServer(handler);
});
after(async () => {
  await server.close();
  fx.remove();
});

const last = () => server.results[server.results.length - 1]!;

describe("whole files", () => {
  test("a full file is byte-exact, with validators and length, straight to the socket", T, async () => {
    const sendfileCalls = sendFileStats().sendfile;
    const r = await get(server.port, "/big.bin");
    assert.equal(r.status, 200);
    assert.equal(sha256(r.body), sha256(fx.big));
    assert.equal(r.headers["content-length"], String(fx.big.length));
    assert.equal(r.headers["accept-ranges"], "bytes");
    assert.equal(r.headers["content-type"], "application/octet-stream");
    assert.match(r.headers.etag ?? "", /^"[0-9a-f]+-[0-9a-f]+"$/);
    const mtime = statSync(join(fx.root, "big.bin")).mtimeMs;
    assert.equal(r.headers["last-modified"], new Date(mtime).toUTCString());
    const result = await last();
    assert.deepEqual(result, { status: 200, bytes: fx.big.length, transfer: "socket" });
    if (zeroCopy.available) {
      // The addon is built here, so the kernel must have sent the file.
      assert.equal(sendFileStats().sendfile, sendfileCalls + 1);
      assert.equal(sendFileStats().lastPath, "sendfile");
    } else {
      console.log(
        `# zero-copy addon not available (${zeroCopy.reason}): socket route used its read/write loop`,
      );
    }
  });

  test("zeroCopy: false sends the same bytes through res.write", T, async () => {
    const r = await get(server.port, "/big.bin?stream");
    assert.equal(sha256(r.body), sha256(fx.big));
    assert.equal((await last()).transfer, "stream");
  });

  test("HEAD: the GET headers, no body", T, async () => {
    const g = await get(server.port, "/small.dat");
    const h = await get(server.port, "/small.dat", { method: "HEAD" });
    assert.equal(h.status, 200);
    assert.equal(h.body.length, 0);
    for (const name of ["content-length", "content-type", "etag", "last-modified", "accept-ranges"]) {
      assert.equal(h.headers[name], g.headers[name], name);
    }
    assert.deepEqual(await last(), { status: 200, bytes: 0, transfer: "none" });
  });

  test("an empty file is 200 with Content-Length 0", T, async () => {
    const r = await get(server.port, "/empty.txt");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], "0");
    assert.equal(r.body.length, 0);
  });

  test("other methods: 405 with Allow, unless the caller opts out", T, async () => {
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const r = await get(server.port, "/small.dat", { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers.allow, "GET, HEAD");
    }
    const r = await get(server.port, "/small.dat?anymethod", { method: "POST" });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, fx.small);
  });
});

describe("conditional requests", () => {
  let etag: string;
  let lastModified: string;
  before(async () => {
    const r = await get(server.port, "/small.dat");
    etag = r.headers.etag!;
    lastModified = r.headers["last-modified"]!;
  });
  const shifted = (seconds: number) => new Date(Date.parse(lastModified) + seconds * 1000).toUTCString();
  const status = async (headers: Record<string, string>, method = "GET", path = "/small.dat") =>
    (await get(server.port, path, { method, headers })).status;

  test("If-None-Match, strong and weak form: 304 without representation headers", T, async () => {
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]) {
      const r = await get(server.port, "/small.dat", { headers: { "if-none-match": inm } });
      assert.equal(r.status, 304, inm);
      assert.equal(r.body.length, 0);
      assert.equal(r.headers.etag, etag);
      assert.equal(r.headers["content-type"], undefined);
      assert.equal(r.headers["content-length"], undefined);
      assert.equal(r.headers["last-modified"], undefined, "ETag makes Last-Modified redundant");
    }
    assert.equal(await status({ "if-none-match": '"other"' }), 200);
    assert.equal(await status({ "if-none-match": etag }, "POST", "/small.dat?anymethod"), 412);
  });

  test("If-Modified-Since: 304 unless modified after; If-None-Match wins", T, async () => {
    assert.equal(await status({ "if-modified-since": lastModified }), 304);
    assert.equal(await status({ "if-modified-since": shifted(3600) }), 304);
    assert.equal(await status({ "if-modified-since": shifted(-1) }), 200);
    assert.equal(await status({ "if-modified-since": "not a date" }), 200);
    assert.equal(await status({ "if-none-match": '"other"', "if-modified-since": shifted(3600) }), 200);
    assert.equal(await status({ "if-modified-since": lastModified }, "HEAD"), 304);
  });

  test("If-Match: strong comparison, 412 otherwise", T, async () => {
    assert.equal(await status({ "if-match": etag }), 200);
    assert.equal(await status({ "if-match": "*" }), 200);
    assert.equal(await status({ "if-match": `"x", ${etag}` }), 200);
    assert.equal(await status({ "if-match": '"x"' }), 412);
    assert.equal(await status({ "if-match": `W/${etag}` }), 412);
  });

  test("If-Unmodified-Since: 412 when modified since; If-Match wins", T, async () => {
    assert.equal(await status({ "if-unmodified-since": lastModified }), 200);
    assert.equal(await status({ "if-unmodified-since": shifted(-1) }), 412);
    assert.equal(await status({ "if-match": etag, "if-unmodified-since": shifted(-1) }), 200);
  });

  test("If-Range with an ETag: 206 when it matches strongly, else the whole file", T, async () => {
    const range = { range: "bytes=10-19" };
    assert.equal(await status({ ...range, "if-range": etag }), 206);
    assert.equal(await status({ ...range, "if-range": '"stale"' }), 200);
    assert.equal(await status({ ...range, "if-range": `W/${etag}` }), 200);
    const whole = await get(server.port, "/small.dat", { headers: { ...range, "if-range": '"stale"' } });
    assert.deepEqual(whole.body, fx.small);
  });

  test("If-Range with a date: 206 only for the exact Last-Modified", T, async () => {
    const range = { range: "bytes=10-19" };
    assert.equal(await status({ ...range, "if-range": lastModified }), 206);
    assert.equal(await status({ ...range, "if-range": shifted(1) }), 200);
    assert.equal(await status({ ...range, "if-range": shifted(-1) }), 200);
  });

  test("a 412 has no body and the file is not read", T, async () => {
    const r = await get(server.port, "/small.dat", { headers: { "if-match": '"x"' } });
    assert.equal(r.status, 412);
    assert.equal(r.body.length, 0);
    assert.deepEqual(await last(), { status: 412, bytes: 0, transfer: "none" });
  });
});

describe("ranges", () => {
  const size = 1000;
  const ranged = (range: string, path = "/small.dat", method = "GET") =>
    get(server.port, path, { method, headers: { range } });

  test("single range: 206, Content-Range, exact bytes, on the socket route", T, async () => {
    const r = await ranged("bytes=100-199");
    assert.equal(r.status, 206);
    assert.equal(r.headers["content-range"], `bytes 100-199/${size}`);
    assert.equal(r.headers["content-length"], "100");
    assert.deepEqual(r.body, fx.small.subarray(100, 200));
    assert.equal((await last()).transfer, "socket");
  });

  test("suffix and open-ended ranges; an end past the size is clamped", T, async () => {
    let r = await ranged("bytes=-10");
    assert.equal(r.headers["content-range"], `bytes 990-999/${size}`);
    assert.deepEqual(r.body, fx.small.subarray(990));
    r = await ranged("bytes=995-");
    assert.equal(r.headers["content-range"], `bytes 995-999/${size}`);
    assert.deepEqual(r.body, fx.small.subarray(995));
    r = await ranged("bytes=990-5000");
    assert.equal(r.headers["content-range"], `bytes 990-999/${size}`);
    r = await ranged("bytes=-5000");
    assert.equal(r.status, 206);
    assert.deepEqual(r.body, fx.small);
  });

  test("ranges of a large file, byte-exact on both routes", T, async () => {
    const start = 3_000_001;
    const end = 7_654_321;
    for (const q of ["", "?stream"]) {
      const r = await ranged(`bytes=${start}-${end}`, `/big.bin${q}`);
      assert.equal(r.status, 206);
      assert.equal(sha256(r.body), sha256(fx.big.subarray(start, end + 1)));
    }
  });

  test("several ranges: multipart/byteranges with exact parts and length", T, async () => {
    for (const q of ["", "?stream"]) {
      const r = await ranged("bytes=0-9, 500-509,-5", `/small.dat${q}`);
      assert.equal(r.status, 206);
      assert.equal(r.headers["content-range"], undefined);
      assert.equal(Number(r.headers["content-length"]), r.body.length);
      const parts = parseMultipart(r.body, r.headers["content-type"]!);
      assert.deepEqual(
        parts.map((p) => p.headers["content-range"]),
        [`bytes 0-9/${size}`, `bytes 500-509/${size}`, `bytes 995-999/${size}`],
      );
      assert.ok(parts.every((p) => p.headers["content-type"] === "application/octet-stream"));
      assert.deepEqual(parts[0]!.body, fx.small.subarray(0, 10));
      assert.deepEqual(parts[1]!.body, fx.small.subarray(500, 510));
      assert.deepEqual(parts[2]!.body, fx.small.subarray(995));
    }
  });

  test("unsatisfiable: 416 with Content-Range bytes */size", T, async () => {
    const r = await ranged("bytes=1000-");
    assert.equal(r.status, 416);
    assert.equal(r.headers["content-range"], `bytes */${size}`);
    assert.equal(r.headers.etag, undefined, "an error page carries no validators");
    assert.equal(r.body.toString(), "416 Range Not Satisfiable\n");
  });

  test("malformed bytes range: 416; unknown unit: ignored", T, async () => {
    const bad = await ranged("bytes=9-1");
    assert.equal(bad.status, 416);
    assert.equal(bad.headers["content-range"], undefined);
    const other = await ranged("items=0-1");
    assert.equal(other.status, 200);
    assert.deepEqual(other.body, fx.small);
  });

  test("amplification: overlapping ranges past the size, or too many, get the whole file", T, async () => {
    let r = await ranged("bytes=0-,0-,0-");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, fx.small);
    r = await ranged("bytes=0-599,400-999");
    assert.equal(r.status, 200);
    const many = Array.from({ length: 101 }, (_, i) => `${i * 2}-${i * 2}`).join(",");
    r = await ranged(`bytes=${many}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, fx.small);
    const allowed = Array.from({ length: 100 }, (_, i) => `${i * 2}-${i * 2}`).join(",");
    r = await ranged(`bytes=${allowed}`);
    assert.equal(r.status, 206);
  });

  test("an empty file ignores Range (Go): 200", T, async () => {
    const r = await ranged("bytes=0-10", "/empty.txt");
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], "0");
  });

  test("HEAD with a Range: 206 headers only", T, async () => {
    const r = await ranged("bytes=0-9", "/small.dat", "HEAD");
    assert.equal(r.status, 206);
    assert.equal(r.headers["content-length"], "10");
    assert.equal(r.headers["content-range"], `bytes 0-9/${size}`);
    assert.equal(r.body.length, 0);
  });
});

describe("content types", () => {
  test("by extension (case-insensitive), else sniffed from the first bytes", T, async () => {
    const type = async (path: string) => (await get(server.port, path)).headers["content-type"];
    assert.equal(await type("/style.CSS"), "text/css; charset=utf-8");
    assert.equal(await type("/image"), "image/png");
    assert.equal(await type("/page"), "text/html; charset=utf-8");
    assert.equal(await type("/notes"), "text/plain; charset=utf-8");
    assert.equal(await type("/small.dat"), "application/octet-stream");
    assert.equal(await type("/empty.txt"), "text/plain; charset=utf-8");
  });

  test("a Content-Type set by the caller wins, and names each multipart part", T, async () => {
    const custom = await startServer((req, res) => {
      res.setHeader("Content-Type", "application/x-custom");
      return serveFile(req, res, join(fx.root, "image"));
    });
    try {
      const r = await get(custom.port, "/", { headers: { range: "bytes=0-0,2-3" } });
      assert.match(r.headers["content-type"]!, /^multipart\/byteranges; boundary=/);
      const parts = parseMultipart(r.body, r.headers["content-type"]!);
      assert.deepEqual(
        parts.map((p) => p.headers["content-type"]),
        ["application/x-custom", "application/x-custom"],
      );
      assert.equal((await get(custom.port, "/")).headers["content-type"], "application/x-custom");
    } finally {
      await custom.close();
    }
  });
});

describe("keep-alive", () => {
  test("the connection serves the next request after socket-route responses of every kind", T, async () => {
    const before = server.connections;
    const conn = await RawConnection.open(server.port);
    try {
      let r = await conn.request("/big.bin");
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal((await last()).transfer, "socket");
      r = await conn.request("/small.dat", { headers: { range: "bytes=1-2,7-9" } });
      assert.equal(r.status, 206);
      assert.equal(parseMultipart(r.body, r.headers["content-type"]!).length, 2);
      r = await conn.request("/small.dat", { method: "HEAD" });
      assert.equal(r.status, 200);
      r = await conn.request("/small.dat", { headers: { "if-none-match": r.headers.etag! } });
      assert.equal(r.status, 304);
      r = await conn.request("/missing");
      assert.equal(r.status, 404);
      r = await conn.request("/small.dat", { headers: { range: "bytes=-3" } });
      assert.deepEqual(r.body, fx.small.subarray(997));
      r = await conn.request("/big.bin");
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal(r.headers.connection, "keep-alive");
      assert.equal(server.connections, before + 1, "one connection for all of it");
      assert.equal(conn.closed, false);
    } finally {
      conn.close();
    }
  });
});

describe("pipelining and framing", () => {
  test("pipelined requests: the second waits its turn and both arrive intact", T, async () => {
    const conn = await RawConnection.open(server.port);
    try {
      conn.send("/big.bin");
      conn.send("/small.dat", { headers: { range: "bytes=0-9,20-29" } });
      conn.send("/big.bin", { headers: { range: "bytes=-1000" } });
      const first = await conn.read();
      assert.equal(sha256(first.body), sha256(fx.big));
      const second = await conn.read();
      assert.equal(second.status, 206);
      assert.equal(parseMultipart(second.body, second.headers["content-type"]!).length, 2);
      const third = await conn.read();
      assert.deepEqual(third.body, fx.big.subarray(fx.big.length - 1000));
    } finally {
      conn.close();
    }
  });

  test("a caller's Content-Encoding: 200 goes out chunked without Content-Length (Go)", T, async () => {
    const s = await startServer((req, res) => {
      res.setHeader("Content-Encoding", "identity");
      return serveFile(req, res, join(fx.root, "small.dat"));
    });
    try {
      const r = await get(s.port, "/");
      assert.equal(r.headers["content-length"], undefined);
      assert.equal(r.headers["transfer-encoding"], "chunked");
      assert.deepEqual(r.body, fx.small);
      assert.equal((await s.results[0]!).transfer, "stream");
      const ranged = await get(s.port, "/", { headers: { range: "bytes=0-4" } });
      assert.equal(ranged.headers["content-length"], "5");
    } finally {
      await s.close();
    }
  });
});

describe("path safety", () => {
  test("`..` in the URL, raw or encoded: 400 before the file system is touched", T, async () => {
    for (const path of [
      "/../outside/secret.txt",
      "/%2e%2e/outside/secret.txt",
      "/sub/.%2E/../x",
      "/..%5csecret",
    ]) {
      const conn = await RawConnection.open(server.port);
      try {
        const r = await conn.request(path);
        assert.equal(r.status, 400, path);
        assert.equal(r.body.toString(), "400 Bad Request\n");
      } finally {
        conn.close();
      }
    }
  });

  test("symlinks: inside the root served, out of the root refused", T, async () => {
    const inside = await get(server.port, "/link-in");
    assert.equal(inside.status, 200);
    assert.deepEqual(inside.body, fx.small);
    for (const path of ["/link-out", "/dir-out/secret.txt"]) {
      const r = await get(server.port, path);
      assert.equal(r.status, 403, path);
      assert.ok(!r.body.toString().includes("secret"));
    }
  });

  test("a path argument that leaves the root is refused", T, async () => {
    const s = await startServer((req, res) =>
      serveFile(req, res, "../outside/secret.txt", { root: fx.root }),
    );
    try {
      const r = await get(s.port, "/");
      assert.equal(r.status, 403);
    } finally {
      await s.close();
    }
  });

  test("missing → 404, file used as a directory → 404, no details in the body", T, async () => {
    for (const path of ["/nope.txt", "/small.dat/child", "/sub/nope/x"]) {
      const r = await get(server.port, path);
      assert.equal(r.status, 404, path);
      assert.equal(r.body.toString(), "404 Not Found\n");
      assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal(r.headers["x-content-type-options"], "nosniff");
    }
    assert.equal((await last()).error?.message.includes("ENOENT"), true, "the cause stays in the result");
  });

  test("directories: 404, or the index file when asked, after a slash redirect", T, async () => {
    assert.equal((await get(server.port, "/sub/")).status, 404);
    assert.equal((await get(server.port, "/")).status, 404);
    const r = await get(server.port, "/sub/?index");
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), "<p>index</p>\n");
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    const redirect = await get(server.port, "/sub?index");
    assert.equal(redirect.status, 301);
    assert.equal(redirect.headers.location, "sub/?index");
    assert.equal((await get(server.port, "/bare/?index")).status, 404, "no index file");
  });

  test(
    "the directory slash redirect never leaves the origin: /\\\\evil.test, /https:evil.test (open redirect)",
    T,
    async () => {
      // Every URL path names the directory, as with a handler that maps paths loosely.
      const s = await startServer((req, res) =>
        serveFile(req, res, "sub", { root: fx.root, index: "index.html" }),
      );
      try {
        const origin = `http://127.0.0.1:${s.port}`;
        for (const path of [
          "/\\\\evil.test",
          "/\\/evil.test",
          "/a/\\\\evil.test?x=1",
          "/\\evil.test",
          "/https:evil.test",
          "/javascript:alert(1)",
          "/%5C%5Cevil.test",
          "/sub",
        ]) {
          const r = await get(s.port, path);
          assert.equal(r.status, 301, path);
          const location = r.headers.location ?? "";
          const target = new URL(location, origin + path);
          assert.equal(target.origin, origin, `${path} → Location ${location}`);
          assert.ok(target.pathname.endsWith("/"), `${path} → ${target.href}`);
        }
        assert.equal(
          (await get(s.port, "/sub")).headers.location,
          "sub/",
          "a plain name stays as Go writes it",
        );
      } finally {
        await s.close();
      }
    },
  );

  test(
    "serveFile options are its own: a polluted Object.prototype.root, .index or .etag is ignored",
    T,
    async () => {
      const pollution: Record<string, Record<string, unknown>> = {
        root: { root: join(fx.base, "outside") },
        index: { index: "index.html" },
        etag: { etag: false },
      };
      const s = await startServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        const props = pollution[url.searchParams.get("pollute") ?? ""] ?? {};
        const proto = Object.prototype as Record<string, unknown>;
        Object.assign(proto, props);
        try {
          // Every option is read before the first await: the pollution is live then.
          return serveFile(req, res, join(fx.root, url.pathname === "/dir" ? "sub" : "small.dat"));
        } finally {
          for (const k of Object.keys(props)) delete proto[k];
        }
      });
      try {
        const file = await get(s.port, "/file?pollute=root");
        assert.equal(file.status, 200, "root is not the polluted one");
        assert.deepEqual(file.body, fx.small);
        assert.equal((await get(s.port, "/dir?pollute=index")).status, 404, "no index: no redirect to one");
        assert.match((await get(s.port, "/file?pollute=etag")).headers.etag ?? "", /^"/, "the default ETag");
      } finally {
        await s.close();
      }
    },
  );

  test("a permission error is 403", T, async () => {
    // root reads anything, so as root the check runs in a child dropped to `nobody`.
    const file = join(fx.base, "outside", "locked.txt");
    writeFileSync(file, "locked\n");
    chmodSync(file, 0o000);
    chmodSync(fx.base, 0o755);
    chmodSync(join(fx.base, "outside"), 0o755);
    const asRoot = process.getuid?.() === 0;
    let entry = fileURLToPath(new URL("../../src/server/index.js", import.meta.url));
    if (asRoot) {
      // `nobody` may not be able to reach the checkout (say, under /root): give it a copy
      // of the compiled sources in the world-readable fixture dir.
      const lib = join(fx.base, "lib");
      cpSync(fileURLToPath(new URL("../../src/", import.meta.url)), join(lib, "src"), { recursive: true });
      writeFileSync(join(lib, "package.json"), '{ "type": "module" }\n');
      entry = join(lib, "src", "server", "index.js");
    }
    const script = `
      import http from "node:http";
      import { serveFile } from ${JSON.stringify(entry)};
      const server = http.createServer((req, res) => serveFile(req, res, ${JSON.stringify(file)}));
      server.listen(0, "127.0.0.1", () => {
        http.get({ port: server.address().port, host: "127.0.0.1", agent: false }, (res) => {
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => { console.log(JSON.stringify({ status: res.statusCode, body })); server.close(); });
        });
      });`;
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      timeout: 15_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { status: 403, body: "403 Forbidden\n" });
  });
});

describe("serveContent", () => {
  const data = Buffer.from("0123456789abcdefghij");

  test("bytes in memory: ranges, validators, sniffed type; opened lazily", T, async () => {
    let opens = 0;
    const s = await startServer((req, res) =>
      serveContent(req, res, {
        size: data.length,
        modified: new Date("2024-05-06T07:08:09Z"),
        etag: '"v1"',
        open: () => {
          opens++;
          return data;
        },
      }),
    );
    try {
      const r = await get(s.port, "/", { headers: { range: "bytes=10-" } });
      assert.equal(r.status, 206);
      assert.equal(r.body.toString(), "abcdefghij");
      assert.equal(r.headers.etag, '"v1"');
      assert.equal(r.headers["last-modified"], "Mon, 06 May 2024 07:08:09 GMT");
      assert.equal(r.headers["content-type"], "text/plain; charset=utf-8");
      assert.equal((await s.results[0]!).transfer, "stream");
      assert.equal(opens, 1);
      assert.equal((await get(s.port, "/", { headers: { "if-none-match": '"v1"' } })).status, 304);
      assert.equal(opens, 1, "a 304 never opens the content");
    } finally {
      await s.close();
    }
  });

  test("a FileHandle is a ContentReader: socket route, and closed exactly once", T, async () => {
    const { open } = await import("node:fs/promises");
    let closes = 0;
    const s = await startServer(async (req, res) => {
      const path = join(fx.root, "big.bin");
      const info = statSync(path);
      return serveContent(req, res, {
        name: "big.bin",
        size: info.size,
        modified: info.mtime,
        open: async (): Promise<ContentReader> => {
          const fh = await open(path);
          const close = fh.close.bind(fh);
          fh.close = () => {
            closes++;
            return close();
          };
          return fh;
        },
      });
    });
    try {
      const r = await get(s.port, "/");
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal((await s.results[0]!).transfer, "socket");
      assert.equal(closes, 1);
      const head = await get(s.port, "/", { method: "HEAD" });
      assert.equal(head.headers["content-type"], "application/octet-stream");
      assert.equal(closes, 1, "HEAD with a type known from the name opens nothing");
    } finally {
      await s.close();
    }
  });

  test("a failing open() is a plain 500: no message, no stack", T, async () => {
    const s = await startServer((req, res) =>
      serveContent(req, res, {
        size: 10,
        open: () => {
          throw new Error("secret /etc/shadow detail");
        },
      }),
    );
    try {
      const r = await get(s.port, "/");
      assert.equal(r.status, 500);
      assert.equal(r.body.toString(), "500 Internal Server Error\n");
      const result: ServeResult = await s.results[0]!;
      assert.equal(result.error?.message, "secret /etc/shadow detail");
    } finally {
      await s.close();
    }
  });

  test("an ETag set on res is the one compared", T, async () => {
    const s = await startServer((req, res) => {
      res.setHeader("ETag", 'W/"mine"');
      return serveContent(req, res, { size: data.length, etag: '"ignored"', open: () => data });
    });
    try {
      assert.equal((await get(s.port, "/", { headers: { "if-none-match": '"mine"' } })).status, 304);
      assert.equal((await get(s.port, "/")).headers.etag, 'W/"mine"');
    } finally {
      await s.close();
    }
  });
});

describe("other transports take the stream route", () => {
  test("TLS: byte-exact through res.write", T, async () => {
    const s = await startServer((req, res) => serveFile(req, res, join(fx.root, "big.bin")), { tls: true });
    try {
      const r = await get(s.port, "/", { tls: true });
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal((await s.results[0]!).transfer, "stream");
      const part = await get(s.port, "/", { tls: true, headers: { range: "bytes=5-9,20-29" } });
      assert.equal(parseMultipart(part.body, part.headers["content-type"]!).length, 2);
    } finally {
      await s.close();
    }
  });

  test("HTTP/2 (h2c) compatibility API: byte-exact, ranges", T, async () => {
    const results: Promise<ServeResult>[] = [];
    const h2 = http2.createServer((req, res) => {
      results.push(serveFile(req, res, join(fx.root, "big.bin")));
    });
    h2.listen(0, "127.0.0.1");
    await once(h2, "listening");
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    const fetch2 = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
        const stream = client.request({ ":path": "/", ...headers });
        const chunks: Buffer[] = [];
        let status = 0;
        stream.on("response", (h) => {
          status = Number(h[":status"]);
        });
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => resolve({ status, body: Buffer.concat(chunks) }));
        stream.on("error", reject);
      });
    try {
      const r = await fetch2({});
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(fx.big));
      assert.equal((await results[0]!).transfer, "stream");
      const part = await fetch2({ range: "bytes=100-199" });
      assert.equal(part.status, 206);
      assert.deepEqual(part.body, fx.big.subarray(100, 200));
    } finally {
      client.close();
      h2.close();
    }
  });
});
