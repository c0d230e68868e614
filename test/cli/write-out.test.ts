/**
 * -w / --write-out against curl itself: for the same request, roundtrip's %{json} has
 * curl's keys with curl's value types, and the values that do not depend on timing or on
 * the client's own headers are equal (status, sizes, counts, addresses, URLs). Also the
 * format language: escapes, %%, %header{}, %{stderr}/%{stdout}, @file, unknown variables,
 * failures, redirects.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { curl, requireCurl } from "../server/helpers.js";
import { exited, type RecordingServer, recordingServer, run, T, tempDir } from "./helpers.js";

let srv: RecordingServer;
before(async () => {
  requireCurl();
  srv = await recordingServer((req, res) => {
    if (req.url === "/hop") {
      res.writeHead(302, { Location: "/data" });
      return void res.end();
    }
    res.setHeader("Content-Type", "application/json");
    res.setHeader("X-Multi", ["a", "b"]);
    res.end('{"hello":"world"}');
  });
});
after(() => srv.close());

/** curl's -w JSON value for a key's type: "number", "string" or "null". */
const typeOf = (v: unknown) => (v === null ? "null" : typeof v);

// Added in curl 8 (8.6 time_queue, 8.9 num_retries, 8.10 time_posttransfer): an older curl lacks them.
const CURL8 = new Set(["time_queue", "num_retries", "time_posttransfer"]);
const SAME_VALUE = [
  "content_type",
  "errormsg",
  "exitcode",
  "filename_effective",
  "http_code",
  "http_version",
  "local_ip",
  "method",
  "num_connects",
  "num_headers",
  "num_redirects",
  "redirect_url",
  "remote_ip",
  "remote_port",
  "response_code",
  "scheme",
  "size_download",
  "size_header",
  "size_upload",
  "url",
  "url_effective",
  "urlnum",
];

describe("--write-out", () => {
  test(
    "%{json}: curl's keys and value types; curl's values where they do not depend on timing",
    T,
    async () => {
      for (const extra of [[], ["-L"], ["-d", "x=12345"]] as string[][]) {
        const url = extra[0] === "-L" ? `${srv.url}/hop` : `${srv.url}/data`;
        const ours = await run([...extra, "-o", "/dev/null", "-w", "%{json}", url]);
        exited(ours, 0);
        const theirs = await curl([...extra, "-o", "/dev/null", "-w", "%{json}", url]);
        assert.equal(theirs.code, 0, theirs.stderr);
        const a = JSON.parse(ours.out) as Record<string, unknown>;
        const b = JSON.parse(theirs.stdout.toString()) as Record<string, unknown>;
        for (const [k, v] of Object.entries(a)) {
          if (!(k in b)) {
            assert.ok(CURL8.has(k), `${k} is not a curl variable`);
            continue;
          }
          assert.equal(typeOf(v), typeOf(b[k]), `type of ${k}`);
        }
        for (const k of SAME_VALUE)
          assert.deepEqual(a[k], b[k], `${k} (with ${extra.join(" ") || "no flags"})`);
        for (const k of Object.keys(a).filter((k) => k.startsWith("time_"))) {
          assert.match(ours.out, new RegExp(`"${k}":\\d+\\.\\d{6}[,}]`), `${k} printed with six decimals`);
        }
      }
    },
  );

  test("text: times with six decimals, http_code in three digits, escapes, %%, %header{}", T, async () => {
    const r = await run([
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}\\t%{time_total}|%{time_connect}|%{size_download}|%{num_connects}\\n100%%|%header{x-multi}|%header{content-type}\\r",
      `${srv.url}/data`,
    ]);
    exited(r, 0);
    assert.match(r.out, /^200\t\d+\.\d{6}\|\d+\.\d{6}\|17\|1\n100%\|a, b\|application\/json\r$/);
  });

  test("%{stderr} and %{stdout} switch streams; -w @file reads the format", T, async (t) => {
    let r = await run([
      "-o",
      "/dev/null",
      "-w",
      "out1 %{stderr}err %{http_code}%{stdout} out2",
      `${srv.url}/data`,
    ]);
    exited(r, 0);
    assert.equal(r.out, "out1  out2");
    assert.equal(r.stderr, "err 200");
    const f = join(tempDir(t), "fmt.txt");
    writeFileSync(f, "code=%{response_code} method=%{method}");
    r = await run(["-o", "/dev/null", "-w", `@${f}`, `${srv.url}/data`]);
    exited(r, 0);
    assert.equal(r.out, "code=200 method=GET");
  });

  test("an unknown variable warns on stderr and prints nothing, as curl does", T, async () => {
    const r = await run(["-o", "/dev/null", "-w", "[%{nope}]", `${srv.url}/data`]);
    exited(r, 0);
    assert.equal(r.out, "[]");
    assert.match(r.stderr, /unknown --write-out variable: 'nope'/);
  });

  test("after a failure: http_code 000, the exit code and the message", T, async () => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1");
    await new Promise((r) => probe.once("listening", r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await run([
      "-s",
      "-w",
      "%{http_code} %{exitcode} %{num_connects} [%{errormsg}]",
      `http://127.0.0.1:${port}/`,
    ]);
    exited(r, 1);
    assert.match(
      r.out,
      /^000 1 0 \[GET http:\/\/127\.0\.0\.1:\d+\/: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)\]$/,
    );
  });

  test("redirects: num_redirects, url_effective, redirect_url when not followed", T, async () => {
    let r = await run([
      "-L",
      "-o",
      "/dev/null",
      "-w",
      "%{num_redirects} %{url_effective} %{num_connects}",
      `${srv.url}/hop`,
    ]);
    exited(r, 0);
    assert.equal(r.out, `1 ${srv.url}/data 1`);
    r = await run(["-w", "%{http_code} %{redirect_url}", `${srv.url}/hop`]);
    exited(r, 0);
    assert.equal(r.out, `302 ${srv.url}/data`);
  });
});
