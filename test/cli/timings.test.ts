/**
 * --timings (the waterfall on stderr) and --format json (the exchange as data) against
 * peers scripted to produce each fact: DNS for a name and none for an IP literal, TLS, a
 * redirect on a reused connection, Expect: 100-continue, a 103, and a retry of a reused
 * connection that died before answering. No speed is asserted: only which phases and
 * facts appear, and that the phases add up to each hop's total.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { reply, type ScriptedRequest, scriptedServer } from "../helpers.js";
import { TLS_CERT, TLS_KEY } from "../server/helpers.js";
import { exited, type RecordingServer, recordingServer, run, T } from "./helpers.js";

let srv: RecordingServer;
before(async () => {
  srv = await recordingServer((req, res) => {
    if (req.url === "/hop") {
      res.writeHead(302, { Location: "/end" });
      return void res.end();
    }
    if (req.url === "/hints") {
      res.writeEarlyHints({ link: "</style.css>; rel=preload; as=style" });
    }
    res.end("done\n");
  });
});
after(() => srv.close());

interface HopJSON {
  connection: { dialed: boolean; reused: boolean; wasIdle: boolean };
  durations: Record<string, number | null>;
  marks: Record<string, number | null>;
  retries: number;
  informational: Array<{ code: number }>;
  expectContinue: { waitFrom: number; got: number | null } | null;
  status: number;
}

async function exchange(args: string[]): Promise<{ hops: HopJSON[]; total: number; body?: string }> {
  const r = await run(["--format", "json", ...args]);
  exited(r, 0);
  return JSON.parse(r.out);
}

/** The durations that happened add up to the hop's total (each is rounded to 1 µs). */
function assertAddsUp(h: HopJSON): void {
  const spans = Object.values(h.durations).filter((v): v is number => v !== null);
  const sum = spans.reduce((a, b) => a + b, 0);
  assert.ok(h.marks.total !== null);
  assert.ok(Math.abs(sum - h.marks.total!) < 0.02, `phases ${sum} vs total ${h.marks.total}`);
}

describe("--timings", () => {
  test("a name: DNS, TCP, request, server, transfer on stderr; the body alone on stdout", T, async () => {
    const r = await run(["--timings", `http://localhost:${srv.port}/x`]);
    exited(r, 0);
    assert.equal(r.out, "done\n");
    for (const phase of [
      "Conn Wait",
      "DNS Lookup",
      "TCP Connection",
      "Request Sent",
      "Server Processing",
      "Content Transfer",
    ]) {
      assert.ok(r.stderr.includes(phase), `${phase} in\n${r.stderr}`);
    }
    assert.doesNotMatch(r.stderr, /TLS Handshake/);
    assert.match(r.stderr, /^GET http:\/\/localhost:\d+\/x → 200 OK {2}HTTP\/1\.1$/m);
    assert.match(r.stderr, /namelookup:[\d.]+m?s/);
    assert.match(r.stderr, /total:[\d.]+m?s/);
    assert.match(r.stderr, /new connection to 127\.0\.0\.1:\d+/);
  });

  test("an IP literal has no DNS phase; https has a TLS handshake", T, async (t) => {
    let r = await run(["--timings", `${srv.url}/x`]);
    exited(r, 0);
    assert.doesNotMatch(r.stderr, /DNS Lookup/);
    const server = https.createServer({ key: TLS_KEY, cert: TLS_CERT }, (_q, res) => res.end("s"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise((res) => server.close(res)));
    r = await run(["-k", "--timings", `https://127.0.0.1:${(server.address() as AddressInfo).port}/`]);
    exited(r, 0);
    assert.match(r.stderr, /TLS Handshake/);
    assert.match(r.stderr, /appconnect:/);
    assert.match(r.stderr, /ALPN http\/1\.1/);
  });

  test("redirects hop by hop: the second hop on the reused connection, its idle time", T, async () => {
    const r = await run(["-L", "--timings", `${srv.url}/hop`]);
    exited(r, 0);
    assert.match(r.stderr, /^hop 1\/2 {2}GET http:\/\/127\.0\.0\.1:\d+\/hop → 302 Found/m);
    assert.match(r.stderr, /^hop 2\/2 {2}GET http:\/\/127\.0\.0\.1:\d+\/end → 200 OK/m);
    assert.match(
      r.stderr,
      /reused connection to 127\.0\.0\.1:\d+ \(127\.0\.0\.1\), idle [\d.]+m?s before this request/,
    );
    assert.match(r.stderr, /^1 redirect, total [\d.]+m?s \(redirects [\d.]+m?s\)$/m);
    const x = await exchange(["-L", `${srv.url}/hop`]);
    assert.equal(x.hops.length, 2);
    assert.equal(x.hops[0]!.connection.dialed, true);
    assert.deepEqual(x.hops[1]!.connection, {
      ...x.hops[1]!.connection,
      dialed: false,
      reused: true,
      wasIdle: true,
    });
    // A reused connection has no DNS, TCP or TLS phase.
    assert.equal(x.hops[1]!.durations.connect, null);
    for (const h of x.hops) assertAddsUp(h);
  });

  test("Expect: 100-continue: the wait and the 100 Continue", T, async () => {
    const r = await run(["--timings", `${srv.url}/up`, "Expect:100-continue", "k=v"]);
    exited(r, 0);
    assert.match(r.stderr, /Expect: 100-continue — 100 after [\d.]+m?s/);
    const x = await exchange([`${srv.url}/up`, "Expect:100-continue", "k=v"]);
    assert.ok(x.hops[0]!.expectContinue !== null && x.hops[0]!.expectContinue.got !== null);
    assert.deepEqual(
      x.hops[0]!.informational.map((i) => i.code),
      [100],
    );
  });

  test("a 103 Early Hints is listed as an informational response", T, async () => {
    const r = await run(["--timings", `${srv.url}/hints`]);
    exited(r, 0);
    assert.equal(r.out, "done\n");
    assert.match(r.stderr, /103 informational response at [\d.]+m?s/);
  });

  test(
    "a reused connection that dies before answering is retried: shown, and counted by -w",
    T,
    async (t) => {
      // Connection 0 answers the first request with a redirect and keeps the connection
      // open, then closes it on reading the second: the transport resends it on a new one.
      const peer = await scriptedServer((req: ScriptedRequest) => {
        if (req.conn === 0 && req.n === 0)
          return void req.socket.write(reply("", "302 Found", ["Location: /next"]));
        if (req.conn === 0) return "close";
        req.socket.write(reply("second connection\n"));
      });
      t.after(() => peer.close());
      const r = await run([
        "-L",
        "--timings",
        "-w",
        "retries=%{num_retries} connects=%{num_connects}",
        `${peer.url}/first`,
      ]);
      exited(r, 0);
      assert.equal(r.out, "second connection\nretries=1 connects=2");
      assert.match(r.stderr, /Retries/);
      assert.match(r.stderr, /retried 1 time: the failed attempt took [\d.]+m?s/);
      assert.equal(peer.requests.filter((q) => q.path === "/next").length, 2);
    },
  );
});

describe("--timings after a failure", () => {
  test("a refused connection: the waterfall ends in Failed, after the message", T, async () => {
    const probe = net.createServer();
    probe.listen(0, "127.0.0.1");
    await once(probe, "listening");
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const r = await run(["--timings", `http://127.0.0.1:${port}/`]);
    exited(r, 1);
    assert.match(r.stderr, /^roundtrip: GET http:\/\/127\.0\.0\.1:\d+\/: cannot connect/);
    assert.match(r.stderr, /→ failed: /);
    assert.match(r.stderr, /TCP Connection +Failed/);
    assert.doesNotMatch(r.stderr, /Content Transfer/);
    assert.match(r.stderr, /connecting to 127\.0\.0\.1:\d+ failed/);
  });
});

describe("--format json", () => {
  test("one document: response, body, hops with connection facts and phases", T, async () => {
    const x = (await exchange([`${srv.url}/x`, "q==1"])) as unknown as {
      url: string;
      response: { status: number; headers: Array<[string, string]> };
      body: string;
      bodyBytes: number;
      redirects: number;
      hops: HopJSON[];
      error: null;
    };
    assert.equal(x.url, `${srv.url}/x?q=1`);
    assert.equal(x.response.status, 200);
    assert.equal(x.body, "done\n");
    assert.equal(x.bodyBytes, 5);
    assert.equal(x.redirects, 0);
    assert.equal(x.error, null);
    assert.equal(x.hops.length, 1);
    assert.equal(x.hops[0]!.connection.dialed, true);
    assertAddsUp(x.hops[0]!);
  });

  test("a binary body comes as bodyBase64", T, async (t) => {
    const server = http.createServer((_q, res) => res.end(Buffer.from([0, 1, 2, 255])));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    t.after(() => new Promise((res) => server.close(res)));
    const r = await run(["--format", "json", `http://127.0.0.1:${(server.address() as AddressInfo).port}/`]);
    exited(r, 0);
    const x = JSON.parse(r.out) as { body?: string; bodyBase64?: string };
    assert.equal(x.body, undefined);
    assert.equal(x.bodyBase64, Buffer.from([0, 1, 2, 255]).toString("base64"));
  });
});
