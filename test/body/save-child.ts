/**
 * Run by save.test.ts in a child process with ROUNDTRIP_NO_ZEROCOPY=1: saves a body with
 * saveTo and reports the path it took and whether the file is byte-exact. One JSON line.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transport, zeroCopy } from "../../src/index.js";
import { httpServer, seededBytes } from "../helpers.js";

const dir = await mkdtemp(join(tmpdir(), "rt-save-child-"));
const data = seededBytes(3 * 1024 * 1024 + 5, 21);
const peer = await httpServer((_req, res) => res.end(data));
const t = new Transport();
const path = join(dir, "f.bin");
const r = await (await t.roundTrip({ url: peer.url })).body.saveTo(path);
const ok = (await readFile(path)).equals(data);
await t.close();
await peer.close();
await rm(dir, { recursive: true, force: true });
console.log(JSON.stringify({ ok, bytes: r.bytes, zeroCopy: r.zeroCopy, available: zeroCopy.available }));
