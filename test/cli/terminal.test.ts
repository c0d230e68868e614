/**
 * What changes on a terminal, run under a pseudo-terminal (util-linux `script`): progress
 * bars for transfers over 1 MiB in both directions (and none when piped or small), JSON
 * indented and coloured (NO_COLOR drops the colour), a binary body refused, and the
 * bench's live line. Skipped, saying why, only where `script` is missing.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { seededBytes } from "../helpers.js";
import {
  cleanEnv,
  exited,
  ptyMissing,
  type RecordingServer,
  recordingServer,
  run,
  runInPty,
  T,
  tempDir,
} from "./helpers.js";

const skip = ptyMissing();
let srv: RecordingServer;
before(async () => {
  srv = await recordingServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/json") {
      res.setHeader("Content-Type", "application/json");
      return void res.end('{"a":[1,"x"]}');
    }
    if (url.pathname === "/binary") return void res.end(Buffer.from([0x89, 0x50, 0, 0, 1, 2]));
    const n = Number(url.searchParams.get("n") ?? "10");
    res.setHeader("Content-Length", n);
    res.end(seededBytes(n, 5));
  });
});
after(() => srv.close());

const ESC = "\x1b[";

describe("on a terminal", { skip: skip ?? false }, () => {
  test("a download over 1 MiB draws a bar on stderr that ends at 100%", T, async (t) => {
    const out = join(tempDir(t), "big.bin");
    const r = await runInPty(["-o", out, `${srv.url}/big?n=${3 << 20}`]);
    exited(r, 0);
    assert.match(r.out, /↓ download \[#+\] 100% {2}3\.00 MiB \/ 3\.00 MiB/);
    assert.ok(r.out.includes("\r"), "redrawn in place");
  });

  test("an upload over 1 MiB draws an upload bar", T, async (t) => {
    const file = join(tempDir(t), "up.bin");
    writeFileSync(file, seededBytes(2 << 20, 1));
    const r = await runInPty(["-o", "/dev/null", `${srv.url}/up`, `@${file}`]);
    exited(r, 0);
    assert.match(r.out, /↑ upload +\[#+\] 100% {2}2\.00 MiB \/ 2\.00 MiB/);
  });

  test("a small transfer draws no bar; -s draws none at all", T, async (t) => {
    let r = await runInPty(["-o", join(tempDir(t), "s.bin"), `${srv.url}/small?n=1000`]);
    exited(r, 0);
    assert.doesNotMatch(r.out, /download/);
    r = await runInPty(["-s", "-o", join(tempDir(t), "b.bin"), `${srv.url}/big?n=${2 << 20}`]);
    exited(r, 0);
    assert.doesNotMatch(r.out, /download/);
  });

  test("JSON is indented and coloured; NO_COLOR keeps the indent and drops the colour", T, async () => {
    let r = await runInPty([`${srv.url}/json`]);
    exited(r, 0);
    assert.ok(r.out.includes(ESC), "coloured");
    assert.match(
      r.out.replace(/\x1b\[\d+m/g, ""),
      /\{\r?\n {4}"a": \[\r?\n {8}1,\r?\n {8}"x"\r?\n {4}\]\r?\n\}/,
    );
    r = await runInPty([`${srv.url}/json`], cleanEnv({ NO_COLOR: "1" }));
    exited(r, 0);
    assert.ok(!r.out.includes(ESC), "no colour with NO_COLOR");
    assert.match(r.out, /\{\r?\n {4}"a": \[/);
  });

  test("a binary body is not printed to the terminal; -o - prints it anyway", T, async () => {
    let r = await runInPty([`${srv.url}/binary`]);
    exited(r, 0);
    assert.match(r.out, /binary body \(6 bytes\) not printed to the terminal/);
    r = await runInPty(["-o", "-", `${srv.url}/binary`]);
    exited(r, 0);
    assert.ok(r.stdout.includes(Buffer.from([0x89, 0x50])));
  });

  test("bench draws a live line on a terminal", T, async () => {
    const r = await runInPty(["bench", "-n", "400", "-c", "4", `${srv.url}/small?n=10`]);
    exited(r, 0);
    assert.match(r.out, /\r {2}\d+ done \(goal 400 requests\) {2}\d+ req\/s {2}0 errors/);
    assert.match(r.out, /Requests\/sec:/);
  });
});

describe("piped", () => {
  test("no bar, no colour, JSON as it came", T, async (t) => {
    const r = await run(["-o", join(tempDir(t), "big.bin"), `${srv.url}/big?n=${3 << 20}`]);
    exited(r, 0);
    assert.equal(r.stderr, "");
    const j = await run([`${srv.url}/json`]);
    exited(j, 0);
    assert.equal(j.out, '{"a":[1,"x"]}');
  });

  test("--pretty=format indents JSON even when piped; --pretty=all colours it", T, async () => {
    let r = await run(["--pretty=format", `${srv.url}/json`]);
    exited(r, 0);
    assert.equal(r.out, '{\n    "a": [\n        1,\n        "x"\n    ]\n}\n');
    r = await run(["--pretty=all", `${srv.url}/json`]);
    exited(r, 0);
    assert.ok(r.out.includes(ESC));
    r = await run(["--pretty=all", `${srv.url}/json`], { env: cleanEnv({ NO_COLOR: "1" }) });
    assert.ok(!r.out.includes(ESC), "NO_COLOR wins over --pretty=all");
  });
});
