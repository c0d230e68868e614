/**
 * Where the response body goes, read once in constant memory: a file (-o, with
 * body.saveTo, so zero copy where the kernel allows), stdout
 * (streamed with backpressure; JSON indented when pretty output is on; binary refused on
 * a terminal, as curl refuses it), kept for --format json, or counted and dropped.
 */

import type { Writable } from "node:stream";
import type { Response } from "../index.js";
import { isJSONType, prettyJSON } from "./format.js";
import type { Palette } from "./style.js";

/** Bodies larger than this are streamed as they are rather than indented. */
const PRETTY_LIMIT = 8 * 1024 * 1024;
/** How often -o reports progress (the progress bar redraws at most this often anyway). */
const PROGRESS_EVERY_MS = 100;
/** --format json keeps a body up to this size. */
const KEEP_LIMIT = 16 * 1024 * 1024;

export type SinkTarget =
  | { kind: "file"; path: string }
  | { kind: "stdout"; pretty: boolean; palette: Palette; refuseBinary: boolean }
  | { kind: "keep" }
  | { kind: "discard" };

export interface SinkResult {
  bytes: number;
  /** kind "keep": the body, when it fit. */
  kept?: Buffer;
  /** Binary refused on a terminal. */
  refusedBinary?: boolean;
  /** -o: splice(2) moved (the rest of) the body into the file. */
  zeroCopy?: boolean;
  /** stdout was closed by the reader (EPIPE): the rest was dropped. */
  outputClosed?: boolean;
}

/** Writes a chunk, waiting for drain; false when the stream was closed under us. */
async function put(out: Writable, chunk: Uint8Array | string): Promise<boolean> {
  if (out.destroyed || out.writableEnded) return false;
  if (out.write(chunk)) return true;
  return new Promise((resolve) => {
    const settle = (ok: boolean) => () => {
      out.off("drain", onDrain);
      out.off("close", onClose);
      out.off("error", onClose);
      resolve(ok);
    };
    const onDrain = settle(true);
    const onClose = settle(false);
    out.on("drain", onDrain);
    out.on("close", onClose);
    out.on("error", onClose);
  });
}

export async function sinkBody(
  res: Response,
  target: SinkTarget,
  stdout: Writable,
  onBytes: (n: number) => void,
): Promise<SinkResult> {
  let bytes = 0;
  const count = (c: Uint8Array) => {
    bytes += c.byteLength;
    onBytes(bytes);
  };

  if (target.kind === "file") {
    // body.saveTo: splice(2) socket -> file on plain TCP, a write loop elsewhere. The
    // bytes may never pass through JavaScript, so progress is read off the body.
    const tick = setInterval(() => onBytes(res.body.received), PROGRESS_EVERY_MS);
    try {
      const saved = await res.body.saveTo(target.path);
      bytes = saved.bytes;
      onBytes(bytes);
      return { bytes, zeroCopy: saved.zeroCopy };
    } finally {
      clearInterval(tick);
    }
  }

  if (target.kind === "discard") {
    for await (const chunk of res.body) count(chunk);
    return { bytes };
  }

  if (target.kind === "keep") {
    const parts: Buffer[] = [];
    let keep = true;
    for await (const chunk of res.body) {
      count(chunk);
      if (keep && bytes <= KEEP_LIMIT) parts.push(Buffer.from(chunk));
      else keep = false;
    }
    return keep ? { bytes, kept: Buffer.concat(parts) } : { bytes };
  }

  // stdout
  const indent = target.pretty && isJSONType(res.headers.get("content-type"));
  const held: Buffer[] = [];
  let holding = indent;
  let first = true;
  let open = true;
  let refused = false;
  for await (const chunk of res.body) {
    count(chunk);
    if (!open || refused) continue;
    if (first) {
      first = false;
      if (target.refuseBinary && chunk.includes(0)) {
        // Keep reading (the transfer completes, -w stays right) but print nothing.
        refused = true;
        continue;
      }
    }
    if (holding) {
      held.push(Buffer.from(chunk));
      if (bytes <= PRETTY_LIMIT) continue;
      // Too large to indent: out as it came.
      holding = false;
      for (const h of held.splice(0)) if (open) open = await put(stdout, h);
      continue;
    }
    open = await put(stdout, chunk);
  }
  if (refused) return { bytes, refusedBinary: true };
  if (holding && open) {
    const raw = Buffer.concat(held);
    let text: string;
    try {
      text = `${prettyJSON(JSON.parse(raw.toString("utf8")), target.palette)}\n`;
    } catch {
      text = raw.toString("utf8");
    }
    open = await put(stdout, text);
  }
  return open ? { bytes } : { bytes, outputClosed: true };
}
