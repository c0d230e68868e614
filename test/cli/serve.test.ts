/**
 * `roundtrip serve DIR` as a child process: files byte-exact over the socket route
 * (sendfile when the addon is built), ranges, conditional requests, HEAD, index.html,
 * listings with escaped names, the slash redirect, access log lines, and the rule that
 * nothing outside DIR is served (raw and encoded `..`, symlinks leading out; links that
 * stay inside are followed).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { zeroCopy } from "../../src/index.js";
import { seededBytes } from "../helpers.js";
import { CLI, cleanEnv, exited, run, T, tempDir } from "./helpers.js";

interface Served {
  url: string;
  child: ChildProcess;
  log: string[];
  stop(): Promise<number | null>;
}

/** Starts `roundtrip serve`, waits for its "Serving … on URL" line (bounded). */
async function startServe(args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  let partial = "";
  child.stdout!.on("data", (c: Buffer) => {
    partial += c.toString();
    const lines = partial.split("\n");
    partial = lines.pop()!;
    log.push(...lines);
  });
  let err = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 10_000);
    child.stderr!.on("data", (c: Buffer) => {
      err += c.toString();
      const m = /on (http:\/\/\S+\/) /.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!.slice(0, -1));
      }
    });
    child.once("exit", () => reject(new Error(`serve exited: ${err}`)));
  });
  return {
    url,
    child,
    log,
    async stop() {
      child.kill("SIGTERM");
      const [code] = await once(child, "exit");
      return code as number | null;
    },
  };
}

/** One raw request, sent byte for byte (no client normalizes the target); the status code. */
function rawStatus(url: string, target: string): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect(Number(port), "127.0.0.1", () =>
      s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let data = "";
    s.on("data", (c: Buffer) => {
      data += c.toString("latin1");
    });
    s.on("end", () => resolve(Number(data.split(" ", 2)[1])));
    s.on("error", reject);
  });
}

let base: string;
let root: string;
let outside: string;
let served: Served;
const big = seededBytes(2_000_000, 11);

before(async () => {
  base = mkdtempSync(join(tmpdir(), "roundtrip-serve-"));
  root = join(base, "www");
  outside = join(base, "secret");
  mkdirSync(join(root, "site"), { recursive: true });
  mkdirSync(join(root, "plain"));
  mkdirSync(outside);
  writeFileSync(join(root, "big.bin"), big);
  writeFileSync(join(root, "site", "index.html"), "<h1>home</h1>");
  writeFileSync(join(root, "plain", "a.txt"), "a");
  writeFileSync(join(root, "plain", `<b>&"q'.txt`), "x");
  writeFileSync(join(outside, "key.txt"), "do not serve");
  symlinkSync(join(outside, "key.txt"), join(root, "plain", "leak.txt"));
  symlinkSync(outside, join(root, "leakdir"));
  symlinkSync(join(root, "plain", "a.txt"), join(root, "alias.txt"));
  served = await startServe([root, "--port", "0"]);
});
after(async () => {
  await served?.stop();
  rmSync(base, { recursive: true, force: true });
});

describe("serve", () => {
  test("a file byte-exact, over the socket route; one access log line for it", T, async () => {
    const res = await fetch(`${served.url}/big.bin`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big));
    const route = zeroCopy.available ? "socket" : "(socket|stream)";
    await waitForLog(
      new RegExp(
        `^127\\.0\\.0\\.1 - - \\[\\d{2}/\\w{3}/\\d{4}:\\d{2}:\\d{2}:\\d{2} \\+0000\\] "GET /big\\.bin HTTP/1\\.1" 200 2000000 \\S+ ${route}$`,
      ),
    );
  });

  test("ranges, conditional requests and HEAD, as serveFile answers them", T, async () => {
    let res = await fetch(`${served.url}/big.bin`, { headers: { Range: "bytes=10-19" } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get("content-range"), `bytes 10-19/${big.length}`);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big.subarray(10, 20)));
    res = await fetch(`${served.url}/big.bin`, { method: "HEAD" });
    const etag = res.headers.get("etag");
    assert.ok(etag);
    assert.equal(res.headers.get("content-length"), String(big.length));
    res = await fetch(`${served.url}/big.bin`, { headers: { "If-None-Match": etag } });
    assert.equal(res.status, 304);
  });

  test("a directory: index.html when there is one, else a listing with every name escaped", T, async () => {
    let res = await fetch(`${served.url}/site/`);
    assert.equal(await res.text(), "<h1>home</h1>");
    res = await fetch(`${served.url}/plain/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
    const page = await res.text();
    assert.match(page, /<title>Index of \/plain\/<\/title>/);
    assert.ok(page.includes(`<a href="./%3Cb%3E%26%22q&#39;.txt">&#60;b&#62;&#38;&#34;q&#39;.txt</a>`), page);
    assert.ok(!page.includes("<b>&"), "no raw name in the page");
    assert.match(page, /<a href="\.\/a\.txt">a\.txt<\/a> <small>1 B<\/small>/);
    // A link leading out is listed by name, with nothing about its target.
    assert.match(page, /<a href="\.\/leak\.txt">leak\.txt<\/a><\/li>/);
    res = await fetch(`${served.url}/plain`, { redirect: "manual" });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get("location"), "plain/");
  });

  test("never outside DIR: raw and encoded .. are 400, symlinks leading out 403", T, async () => {
    assert.equal(await rawStatus(served.url, "/../secret/key.txt"), 400);
    assert.equal(await rawStatus(served.url, "/%2e%2e/secret/key.txt"), 400);
    assert.equal(await rawStatus(served.url, "/plain/%2E%2E/%2E%2E/secret/key.txt"), 400);
    assert.equal(await rawStatus(served.url, "/%252e%252e/secret/key.txt"), 400);
    assert.equal(await rawStatus(served.url, "/plain/..%2f..%2fsecret/key.txt"), 400);
    assert.equal((await fetch(`${served.url}/plain/leak.txt`)).status, 403);
    assert.equal((await fetch(`${served.url}/leakdir/`)).status, 403);
    assert.equal((await fetch(`${served.url}/leakdir/key.txt`)).status, 403);
    // A link that stays inside is followed.
    const res = await fetch(`${served.url}/alias.txt`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "a");
  });

  test("--host, -q (no access log), and SIGTERM ends it with exit 0", T, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "f.txt"), "quiet");
    const q = await startServe([dir, "--host", "127.0.0.1", "--port", "0", "-q"]);
    assert.match(q.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await (await fetch(`${q.url}/f.txt`)).text(), "quiet");
    assert.equal(await q.stop(), 0);
    assert.deepEqual(q.log, []);
  });

  test("not a directory, or a bad port: exit 1", T, async (t) => {
    const file = join(tempDir(t), "f");
    writeFileSync(file, "x");
    let r = await run(["serve", file, "--port", "0"]);
    exited(r, 1);
    assert.match(r.stderr, /not a directory/);
    r = await run(["serve", "--port", "70000"]);
    exited(r, 1);
  });
});

async function waitForLog(pattern: RegExp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (served.log.some((l) => pattern.test(l))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`no access log line matching ${pattern} in:\n${served.log.join("\n")}`);
}
