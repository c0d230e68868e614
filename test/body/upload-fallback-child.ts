/**
 * Run by upload.test.ts in a child process with ROUNDTRIP_NO_ZEROCOPY=1: uploads a file
 * and reports which path sent it. Prints one JSON line.
 */
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sendFileStats } from "../../src/body/zerocopy.js";
import { file, Transport, zeroCopy } from "../../src/index.js";
import { httpServer } from "../helpers.js";

const dir = await mkdtemp(join(tmpdir(), "rt-fallback-"));
const data = Buffer.alloc(3 * 1024 * 1024 + 5);
for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
const path = join(dir, "f.bin");
await writeFile(path, data);
const peer = await httpServer(async (req, res) => {
  const h = createHash("sha256");
  for await (const c of req) h.update(c as Buffer);
  res.end(h.digest("hex"));
});
const t = new Transport();
const res = await t.roundTrip({ url: peer.url, method: "PUT", body: file(path) });
const ok = (await res.text()) === createHash("sha256").update(data).digest("hex");
await t.close();
await peer.close();
await rm(dir, { recursive: true, force: true });
console.log(JSON.stringify({ ok, path: sendFileStats().lastPath, available: zeroCopy.available }));
