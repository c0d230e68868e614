/**
 * `roundtrip [METHOD] URL [ITEM…]` as a child process against loopback servers: what the
 * server receives for items and curl's flags, what lands on stdout and stderr, and the
 * exit codes (xh's --check-status, HTTPie's codes for redirects).
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import busboy from "busboy";
import { seededBytes } from "../helpers.js";
import { exited, type RecordingServer, recordingServer, run, T, tempDir } from "./helpers.js";

let srv: RecordingServer;
before(async () => {
  srv = await recordingServer((req, res, seen) => {
    const url = new URL(req.url ?? "/", "http://x");
    const status = Number(url.searchParams.get("status") ?? "200");
    if (url.pathname === "/json") {
      res.setHeader("Content-Type", "application/json");
      return void res.end('{"b":[1,true,null],"a":"x"}');
    }
    if (url.pathname === "/redirect") {
      res.writeHead(Number(url.searchParams.get("code") ?? "302"), {
        Location: url.searchParams.get("to") ?? "/json",
      });
      return void res.end();
    }
    if (url.pathname === "/loop") {
      const n = Number(url.searchParams.get("n") ?? "0");
      res.writeHead(302, { Location: `/loop?n=${n + 1}` });
      return void res.end();
    }
    if (url.pathname === "/bytes") {
      return void res.end(seededBytes(Number(url.searchParams.get("n")), 7));
    }
    if (url.pathname === "/later") {
      // The head and a little first, the rest later: the body is still arriving when the
      // CLI starts saving it, so the zero-copy path has something to move.
      const body = seededBytes(2_000_000, 9);
      res.setHeader("Content-Length", body.length);
      res.write(body.subarray(0, 1000));
      return void setTimeout(() => res.end(body.subarray(1000)), 100);
    }
    if (url.pathname === "/echo") {
      res.setHeader("Content-Type", "application/octet-stream");
      return void res.end(seen.body);
    }
    res.writeHead(status, { "X-Seen": "1" });
    res.end(`status ${status}\n`);
  });
});
after(() => srv.close());

const last = () => srv.seen[srv.seen.length - 1]!;

describe("request", () => {
  test("GET: the body goes to stdout byte for byte when piped, nothing else", T, async () => {
    const r = await run([`${srv.url}/json`]);
    exited(r, 0);
    assert.equal(r.out, '{"b":[1,true,null],"a":"x"}');
    assert.equal(r.stderr, "");
    assert.equal(last().method, "GET");
  });

  test("items: headers, query, JSON fields; POST with HTTPie's Accept and Content-Type", T, async () => {
    const r = await run([srv.url + "/x", "X-Api:k1", "q==a b", "name=ann", "age:=30", "tags:=[1,2]"]);
    exited(r, 0);
    const s = last();
    assert.equal(s.method, "POST");
    assert.equal(s.url, "/x?q=a+b");
    assert.equal(s.headers["x-api"], "k1");
    assert.equal(s.headers["content-type"], "application/json");
    assert.equal(s.headers.accept, "application/json, */*;q=0.5");
    assert.deepEqual(JSON.parse(s.body.toString()), { name: "ann", age: 30, tags: [1, 2] });
  });

  test("curl flags: -X, -H, -A, -u, -d pieces as a urlencoded form", T, async () => {
    const r = await run([
      "-X",
      "PATCH",
      "-H",
      "X-One: 1",
      "-A",
      "tester/1",
      "-u",
      "al:pa:ss",
      "-d",
      "a=1",
      "-d",
      "b=2",
      srv.url,
    ]);
    exited(r, 0);
    const s = last();
    assert.equal(s.method, "PATCH");
    assert.equal(s.headers["x-one"], "1");
    assert.equal(s.headers["user-agent"], "tester/1");
    assert.equal(s.headers.authorization, `Basic ${Buffer.from("al:pa:ss").toString("base64")}`);
    assert.equal(s.headers["content-type"], "application/x-www-form-urlencoded");
    assert.equal(s.body.toString(), "a=1&b=2");
  });

  test("Name: drops a default header (User-Agent:), Name; sends it empty", T, async () => {
    const r = await run([srv.url, "User-Agent:", "X-Empty;"]);
    exited(r, 0);
    const s = last();
    assert.equal(s.headers["user-agent"], undefined);
    assert.equal(s.headers["x-empty"], "");
  });

  test("f@path streams a multipart file part byte-exact, k=v becomes a text part", T, async (t) => {
    const dir = tempDir(t);
    const data = seededBytes(300_000, 3);
    writeFileSync(join(dir, "up.bin"), data);
    const r = await run([`${srv.url}/up`, `doc@${join(dir, "up.bin")}`, "note=hello"]);
    exited(r, 0);
    const s = last();
    assert.match(String(s.headers["content-type"]), /^multipart\/form-data; boundary=/);
    const parts: Array<{ name: string; filename?: string; data: Buffer }> = [];
    await new Promise<void>((resolve, reject) => {
      const bb = busboy({ headers: s.headers });
      bb.on("file", (name, stream, info) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c: Buffer) => chunks.push(c));
        stream.on("end", () => parts.push({ name, filename: info.filename, data: Buffer.concat(chunks) }));
      });
      bb.on("field", (name, value) => parts.push({ name, data: Buffer.from(value) }));
      bb.on("close", resolve);
      bb.on("error", reject);
      bb.end(s.body);
    });
    assert.equal(parts.length, 2);
    const doc = parts.find((p) => p.name === "doc")!;
    assert.equal(doc.filename, "up.bin");
    assert.ok(doc.data.equals(data), "file part byte-exact");
    assert.equal(parts.find((p) => p.name === "note")?.data.toString(), "hello");
  });

  test("@path sends the file as the raw body, byte-exact, typed by its extension", T, async (t) => {
    const dir = tempDir(t);
    const data = seededBytes(200_000, 9);
    writeFileSync(join(dir, "blob.bin"), data);
    writeFileSync(join(dir, "doc.json"), '{"k":1}');
    let r = await run([`${srv.url}/raw`, `@${join(dir, "blob.bin")}`]);
    exited(r, 0);
    assert.equal(last().method, "POST");
    assert.equal(last().headers["content-type"], "application/octet-stream");
    assert.equal(last().headers["content-length"], String(data.length));
    assert.ok(last().body.equals(data));
    r = await run(["PUT", `${srv.url}/raw`, `@${join(dir, "doc.json")}`]);
    exited(r, 0);
    assert.equal(last().method, "PUT");
    assert.equal(last().headers["content-type"], "application/json");
    assert.equal(last().body.toString(), '{"k":1}');
  });

  test("@- and -d @- send standard input", T, async () => {
    let r = await run([`${srv.url}/echo`, "@-"], { input: "from stdin\n" });
    exited(r, 0);
    assert.equal(r.out, "from stdin\n");
    r = await run(["-d", "@-", `${srv.url}/echo`], { input: "a=1" });
    exited(r, 0);
    assert.equal(last().headers["content-type"], "application/x-www-form-urlencoded");
    assert.equal(r.out, "a=1");
  });

  test("-o FILE gets the body byte-exact; stdout stays empty", T, async (t) => {
    const dir = tempDir(t);
    const out = join(dir, "out.bin");
    const r = await run(["-o", out, `${srv.url}/bytes?n=3000000`]);
    exited(r, 0);
    assert.equal(r.out, "");
    assert.ok(readFileSync(out).equals(seededBytes(3_000_000, 7)));
  });

  test("-o saves with body.saveTo: -v says splice(2) moved it when zero copy is on", T, async (t) => {
    const { zeroCopy } = await import("../../src/index.js");
    const dir = tempDir(t);
    const out = join(dir, "later.bin");
    const r = await run(["-v", "-o", out, `${srv.url}/later`]);
    exited(r, 0);
    assert.ok(readFileSync(out).equals(seededBytes(2_000_000, 9)));
    if (zeroCopy.available) assert.match(r.stderr, /\* Body saved with splice\(2\): zero copy/);
    else assert.doesNotMatch(r.stderr, /splice/);
  });

  test("-i prints the response head before the body; -I sends HEAD and prints the head", T, async () => {
    let r = await run(["-i", `${srv.url}/json`]);
    exited(r, 0);
    assert.match(r.out, /^HTTP\/1\.1 200 OK\n/);
    assert.match(r.out, /\ncontent-type: application\/json\n/i);
    assert.ok(r.out.endsWith('\n\n{"b":[1,true,null],"a":"x"}'));
    r = await run(["-I", `${srv.url}/json`]);
    exited(r, 0);
    assert.equal(last().method, "HEAD");
    assert.match(r.out, /^HTTP\/1\.1 200 OK\n/);
  });

  test("--print=HBhb: the request as written, its body, the response head and body", T, async () => {
    const r = await run(["--print=HBhb", `${srv.url}/json`, "k=v"]);
    exited(r, 0);
    const [reqHead, reqBody, resHead, resBody] = r.out.split("\n\n");
    assert.match(reqHead!, /^POST \/json HTTP\/1\.1\nHost: 127\.0\.0\.1:\d+\n/);
    assert.match(reqHead!, /\nContent-Length: 9(\n|$)/);
    assert.equal(reqBody, '{"k":"v"}');
    assert.match(resHead!, /^HTTP\/1\.1 200 OK/);
    assert.equal(resBody, '{"b":[1,true,null],"a":"x"}');
  });

  test("-v: both heads on stderr (curl's > and <), the body alone on stdout", T, async () => {
    const r = await run(["-v", `${srv.url}/json`]);
    exited(r, 0);
    assert.equal(r.out, '{"b":[1,true,null],"a":"x"}');
    assert.match(r.stderr, /^\* Connected to 127\.0\.0\.1:\d+\n/m);
    assert.match(r.stderr, /^> GET \/json HTTP\/1\.1$/m);
    assert.match(r.stderr, /^> Host: 127\.0\.0\.1:\d+$/m);
    assert.match(r.stderr, /^< HTTP\/1\.1 200 OK$/m);
  });

  test("-L follows redirects (303 turns POST into GET); without -L the 3xx is the answer", T, async () => {
    let r = await run(["-L", "-v", `${srv.url}/redirect?code=303`, "a=1"]);
    exited(r, 0);
    assert.equal(r.out, '{"b":[1,true,null],"a":"x"}');
    const methods = srv.seen.slice(-2).map((s) => s.method);
    assert.deepEqual(methods, ["POST", "GET"]);
    assert.match(r.stderr, /Re-using existing connection/);
    r = await run([`${srv.url}/redirect`]);
    exited(r, 0);
    assert.equal(r.out, "");
    assert.equal(last().url, "/redirect");
  });

  test("--max-redirs: one redirect more than allowed exits 6 (HTTPie's code)", T, async () => {
    const r = await run(["-L", "--max-redirs", "3", `${srv.url}/loop`]);
    exited(r, 6);
    assert.match(r.stderr, /stopped after 3 redirects/);
    assert.equal(last().url, "/loop?n=3");
  });

  test("--check-status: 4 for a 4xx, 5 for a 5xx, 3 for an unfollowed 3xx, 0 for 2xx", T, async () => {
    const code = async (...args: string[]) => (await run(["--check-status", ...args])).code;
    assert.equal(await code(`${srv.url}/?status=404`), 4);
    assert.equal(await code(`${srv.url}/?status=503`), 5);
    assert.equal(await code(`${srv.url}/redirect`), 3);
    assert.equal(await code("-L", `${srv.url}/redirect`), 0);
    assert.equal(await code(`${srv.url}/?status=204`), 0);
    // Without the flag, any status is a success, as in curl.
    const r = await run([`${srv.url}/?status=500`]);
    exited(r, 0);
    // Piped output gets a warning on stderr, as xh gives.
    const w = await run(["--check-status", `${srv.url}/?status=418`]);
    exited(w, 4);
    assert.match(w.stderr, /warning: HTTP 418/);
  });

  test("usage mistakes exit 1 with a hint; --help and --version exit 0", T, async () => {
    let r = await run(["--bogus", srv.url]);
    exited(r, 1);
    assert.match(r.stderr, /unknown option --bogus\n\(see roundtrip --help\)/);
    r = await run([srv.url, "k:=not json"]);
    exited(r, 1);
    assert.match(r.stderr, /not valid JSON/);
    r = await run(["ftp://x/"]);
    exited(r, 1);
    r = await run(["--help"]);
    exited(r, 0);
    assert.match(r.out, /^Usage: roundtrip \[METHOD\] URL/);
    r = await run(["--version"]);
    exited(r, 0);
    assert.match(r.out, /^roundtrip \d+\.\d+\.\d+\n$/);
    r = await run([]);
    exited(r, 1);
  });
});
