/**
 * --curl prints the curl command for the request instead of sending it. Checked by
 * running that command through the shell: curl must send what roundtrip sends (method,
 * target, the headers roundtrip chose, body), for items, curl's own data flags,
 * multipart and raw-file bodies, auth and redirects.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { requireCurl } from "../server/helpers.js";
import {
  cleanEnv,
  exited,
  type RecordingServer,
  recordingServer,
  run,
  type Seen,
  T,
  tempDir,
} from "./helpers.js";

let srv: RecordingServer;
before(async () => {
  requireCurl();
  srv = await recordingServer((req, res) => {
    if (req.url === "/hop") {
      res.writeHead(307, { Location: "/landed" });
      return void res.end();
    }
    res.end("ok");
  });
});
after(() => srv.close());

function sh(command: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "sh",
      ["-c", `${command} -s -S -o /dev/null`],
      { env: cleanEnv(), timeout: 20_000 },
      (err, _o, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr) }),
    );
  });
}

/** What matters of a request for the comparison: multipart boundaries differ by design. */
function essence(s: Seen) {
  const type = String(s.headers["content-type"] ?? "");
  const boundary = /boundary=(.+)$/.exec(type)?.[1];
  const body = boundary
    ? s.body.toString("latin1").split(`--${boundary}`).join("--B")
    : s.body.toString("latin1");
  // Boundaries differ in length too, and with them the Content-Length.
  const pick = ["accept", "authorization", "x-custom", ...(boundary ? [] : ["content-length"])];
  return {
    method: s.method,
    url: s.url,
    type: boundary ? type.replace(boundary, "B") : type,
    headers: Object.fromEntries(pick.map((h) => [h, s.headers[h]])),
    body,
  };
}

async function sameAsCurl(args: string[]): Promise<void> {
  const exported = await run(["--curl", ...args]);
  exited(exported, 0);
  const command = exported.out.trim();
  assert.match(command, /^curl /);
  assert.equal(srv.seen.length, 0, "--curl sends nothing");
  const sent = await run(["-o", "/dev/null", ...args]);
  exited(sent, 0);
  const ours = srv.seen.splice(0);
  const viaCurl = await sh(command);
  assert.equal(viaCurl.code, 0, `${command}\n${viaCurl.stderr}`);
  const theirs = srv.seen.splice(0);
  assert.deepEqual(theirs.map(essence), ours.map(essence), command);
}

describe("--curl", () => {
  test("JSON items, a header, a query: the same request from curl", T, async () => {
    await sameAsCurl([`${srv.url}/api`, "X-Custom:it's", "q==a b&c", "name=O'Neil", "n:=1", "list:=[true]"]);
  });

  test("curl's own data flags and -X, -u", T, async () => {
    await sameAsCurl(["-X", "PUT", "-u", "me:p@ss word", "-d", "a=1", "-d", "b=x y", `${srv.url}/form`]);
  });

  test("multipart with a file part and a text part", T, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "my file.txt"), "file contents\n");
    await sameAsCurl([`${srv.url}/up`, `doc@${join(dir, "my file.txt")}`, "note=\\@literal"]);
  });

  test("a raw body from a file", T, async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "body.json"), '{"raw":true}');
    await sameAsCurl([`${srv.url}/raw`, `@${join(dir, "body.json")}`]);
  });

  test("-L follows the same redirect chain", T, async () => {
    await sameAsCurl(["-L", `${srv.url}/hop`, "k=v"]);
  });
});
