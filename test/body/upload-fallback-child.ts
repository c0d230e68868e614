/**
 * Run by upload.test.ts in a child process with ROUNDTRIP_NO_ZEROCOPY=1: uploads a file,
 * then a form with a file() part and an openAsBlob() part, and reports which path sent
 * them and whether the server got them byte-exact. Prints one JSON line.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import busboy from "busboy";
import { sendFileStats } from "../../src/body/zerocopy.js";
import { file, openAsBlob, Transport, zeroCopy } from "../../src/index.js";
import { httpServer } from "../helpers.js";

const dir = await mkdtemp(join(tmpdir(), "rt-fallback-"));
const data = Buffer.alloc(3 * 1024 * 1024 + 5);
for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
const path = join(dir, "f.bin");
await writeFile(path, data);
const digest = createHash("sha256").update(data).digest("hex");
// A whole body is hashed; a form's file parts are hashed one by one (busboy).
const peer = await httpServer(async (req, res) => {
  if (!String(req.headers["content-type"]).startsWith("multipart/")) {
    const h = createHash("sha256");
    for await (const c of req) h.update(c as Buffer);
    res.end(h.digest("hex"));
    return;
  }
  const hashes: string[] = [];
  const bb = busboy({ headers: req.headers });
  bb.on("file", (_name, stream) => {
    const h = createHash("sha256");
    stream.on("data", (c: Buffer) => h.update(c));
    stream.on("end", () => hashes.push(h.digest("hex")));
  });
  bb.on("close", () => res.end(hashes.join(",")));
  req.pipe(bb);
});
const t = new Transport();
const res = await t.roundTrip({ url: peer.url, method: "PUT", body: file(path) });
const fileOk = (await res.text()) === digest;
const form = await t.roundTrip({
  url: peer.url,
  method: "POST",
  form: { a: file(path), b: await openAsBlob(path) },
});
const formOk = (await form.text()) === `${digest},${digest}`;
await t.close();
await peer.close();
await rm(dir, { recursive: true, force: true });
const stats = sendFileStats();
console.log(
  JSON.stringify({
    ok: fileOk && formOk,
    sendfileCalls: stats.sendfile,
    fallbackCalls: stats.fallback,
    path: stats.lastPath,
    available: zeroCopy.available,
  }),
);
