/**
 * A CacheStore on the file system, for a cache that outlives the process.
 *
 * Layout under `dir`: one folder per key (the SHA-256 of the URL), holding per variant a
 * metadata file `<variant>.json` that names its body file `<random>.body`. A body is
 * written to a fresh file as it streams; end() then writes the metadata to a temporary
 * file and renames it over `<variant>.json`, so a reader sees the old entry or the new
 * one, never half of one; the replaced body file is unlinked after (a reader that opened
 * it keeps reading it). update() rewrites only the metadata. Nothing bounds the folder's
 * size: delete keys, or clear the folder, as your application needs.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RoundtripError } from "../errors.js";
import {
  type CacheEntry,
  type CacheMetadata,
  type CacheStore,
  type CacheWriter,
  variantId,
} from "./cache-store.js";

interface OnDisk {
  meta: CacheMetadata;
  /** File name of the body, in the key's folder. */
  body: string;
  size: number;
}

export class FileCacheStore implements CacheStore {
  readonly dir: string;

  constructor(dir: string) {
    if (typeof dir !== "string" || dir === "") {
      throw new RoundtripError("ERR_INVALID_REQUEST", "FileCacheStore needs a directory path");
    }
    this.dir = dir;
  }

  async get(key: string): Promise<CacheEntry[]> {
    const folder = this.#folder(key);
    let names: string[];
    try {
      names = await readdir(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const out: CacheEntry[] = [];
    for (const name of names) {
      if (!name.endsWith(".json")) continue;
      let disk: OnDisk;
      try {
        disk = JSON.parse(await readFile(join(folder, name), "utf8")) as OnDisk;
      } catch {
        continue; // replaced or removed meanwhile, or not ours
      }
      // Two URLs with one hash would be a SHA-256 collision; still, only ours.
      if (disk.meta?.url !== key) continue;
      const path = join(folder, disk.body);
      out.push({
        id: name.slice(0, -".json".length),
        meta: disk.meta,
        size: disk.size,
        body: () => createReadStream(path),
      });
    }
    return out;
  }

  async set(key: string, meta: CacheMetadata): Promise<CacheWriter> {
    const folder = this.#folder(key);
    await mkdir(folder, { recursive: true });
    const bodyName = `${randomBytes(12).toString("hex")}.body`;
    const bodyPath = join(folder, bodyName);
    const fh = await open(bodyPath, "wx", 0o600);
    let size = 0;
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await fh.close();
    };
    return {
      write: async (chunk) => {
        size += chunk.byteLength;
        let off = 0;
        while (off < chunk.byteLength) {
          const { bytesWritten } = await fh.write(chunk, off, chunk.byteLength - off);
          off += bytesWritten;
        }
      },
      end: async (trailers) => {
        await close();
        const id = variantHash(meta.vary);
        const metaPath = join(folder, `${id}.json`);
        const previous = await readOnDisk(metaPath);
        const disk: OnDisk = { meta: { ...meta, trailers }, body: bodyName, size };
        const tmp = `${metaPath}.${randomBytes(6).toString("hex")}.tmp`;
        await writeFile(tmp, JSON.stringify(disk), { mode: 0o600 });
        await rename(tmp, metaPath);
        if (previous !== undefined && previous.body !== bodyName) {
          await unlink(join(folder, previous.body)).catch(() => {});
        }
      },
      abort: () => {
        void close()
          .then(() => unlink(bodyPath))
          .catch(() => {});
      },
    };
  }

  async update(key: string, id: string, meta: CacheMetadata): Promise<void> {
    if (!/^[0-9a-f]+$/.test(id)) return;
    const metaPath = join(this.#folder(key), `${id}.json`);
    const previous = await readOnDisk(metaPath);
    if (previous === undefined || previous.meta.url !== key) return;
    const tmp = `${metaPath}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify({ ...previous, meta }), { mode: 0o600 });
    await rename(tmp, metaPath);
  }

  async delete(key: string): Promise<void> {
    await rm(this.#folder(key), { recursive: true, force: true });
  }

  #folder(key: string): string {
    return join(this.dir, createHash("sha256").update(key).digest("hex").slice(0, 40));
  }
}

function variantHash(vary: Record<string, string | null>): string {
  return createHash("sha256").update(variantId(vary)).digest("hex").slice(0, 24);
}

async function readOnDisk(path: string): Promise<OnDisk | undefined> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as OnDisk;
  } catch {
    return undefined;
  }
}
