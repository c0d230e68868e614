/**
 * file(path, { start, end }): a request body read from disk. It knows its length once
 * opened, can be sent again (retries, 307/308), and goes out with sendfile(2) where the
 * zero-copy path is available.
 *
 * openAsBlob(path): fs.openAsBlob's Blob, remembered with its path so that the client
 * can send it as a file (sendfile) instead of reading it through Blob.stream().
 */
import { openAsBlob as nodeOpenAsBlob } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { RoundtripError } from "../errors.js";
import { ownOptions } from "../options.js";

export interface FileRange {
  /** First byte to send. Default 0. */
  start?: number;
  /** Last byte to send, inclusive (as fs.createReadStream). Default: end of file. */
  end?: number;
}

export class FileBody {
  readonly path: string;
  readonly start: number;
  readonly end: number | undefined;

  constructor(path: string, range: FileRange = {}) {
    if (typeof path !== "string" || path === "") {
      throw new RoundtripError("ERR_REQUEST_BODY", "file(): path must be a non-empty string");
    }
    const start = range.start ?? 0;
    if (!Number.isSafeInteger(start) || start < 0)
      throw new RoundtripError("ERR_REQUEST_BODY", "file(): start must be an integer ≥ 0");
    if (range.end !== undefined && (!Number.isSafeInteger(range.end) || range.end < start - 1)) {
      throw new RoundtripError("ERR_REQUEST_BODY", "file(): end must be an integer ≥ start - 1");
    }
    this.path = path;
    this.start = start;
    this.end = range.end;
  }

  /** Bytes this body sends from a file of `size` bytes. */
  lengthFor(size: number): number {
    const last = this.end === undefined ? size - 1 : Math.min(this.end, size - 1);
    return Math.max(0, last - this.start + 1);
  }

  /** A file body made from a Blob must still be the file the Blob was made from. */
  protected checkSnapshot(_size: number, _mtimeMs: number): void {}

  /** The length it would send now (stat, no open): lets a form compute its Content-Length. */
  async currentLength(): Promise<number> {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(this.path);
    } catch (cause) {
      throw new RoundtripError("ERR_REQUEST_BODY", `cannot stat request body file ${this.path}`, { cause });
    }
    if (!st.isFile())
      throw new RoundtripError("ERR_REQUEST_BODY", `request body ${this.path} is not a regular file`);
    this.checkSnapshot(st.size, st.mtimeMs);
    return this.lengthFor(st.size);
  }

  /** Opens the file and fixes the length to send, from its size now. */
  async open(): Promise<OpenFile> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, "r");
    } catch (cause) {
      throw new RoundtripError("ERR_REQUEST_BODY", `cannot open request body file ${this.path}`, { cause });
    }
    try {
      const st = await handle.stat();
      if (!st.isFile())
        throw new RoundtripError("ERR_REQUEST_BODY", `request body ${this.path} is not a regular file`);
      this.checkSnapshot(st.size, st.mtimeMs);
      return new OpenFile(handle, this.path, this.start, this.lengthFor(st.size), st.size);
    } catch (err) {
      await handle.close();
      throw err instanceof RoundtripError
        ? err
        : new RoundtripError("ERR_REQUEST_BODY", `cannot stat request body file ${this.path}`, {
            cause: err,
          });
    }
  }
}

export class OpenFile {
  constructor(
    readonly handle: FileHandle,
    readonly path: string,
    readonly offset: number,
    readonly length: number,
    readonly sizeAtOpen: number,
  ) {}

  get fd(): number {
    return this.handle.fd;
  }

  /** Fails if the file changed size since it was opened (the length already went out). */
  async checkUnchanged(): Promise<void> {
    const st = await this.handle.stat();
    if (st.size !== this.sizeAtOpen) {
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `request body file ${this.path} changed size while it was sent (${this.sizeAtOpen} → ${st.size} bytes)`,
      );
    }
  }

  /** The range as chunks read with backpressure (the fd stays open: close() owns it). */
  async *chunks(highWaterMark = 256 * 1024): AsyncGenerator<Buffer> {
    if (this.length === 0) return;
    const stream = this.handle.createReadStream({
      start: this.offset,
      end: this.offset + this.length - 1,
      autoClose: false,
      highWaterMark,
    });
    for await (const c of stream) yield c as Buffer;
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** A request body read from a file; see FileBody. */
export function file(path: string, range?: FileRange): FileBody {
  // Own properties only: a polluted Object.prototype.end is not a range.
  return new FileBody(path, ownOptions(range));
}

/**
 * The file behind a Blob from openAsBlob(): the whole file as it was when the Blob was
 * made. Like Node's own file-backed Blobs, it refuses to send a file whose size or
 * modification time changed since (Node's Blob fails its read with NotReadableError).
 */
class BlobFileBody extends FileBody {
  constructor(
    path: string,
    private readonly size: number,
    private readonly mtimeMs: number,
  ) {
    super(path, { start: 0, end: size - 1 });
  }

  protected override checkSnapshot(size: number, mtimeMs: number): void {
    if (size !== this.size || mtimeMs !== this.mtimeMs) {
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `file ${this.path} changed since openAsBlob() (size ${this.size} → ${size} bytes` +
          `${mtimeMs !== this.mtimeMs ? ", modified" : ""})`,
      );
    }
  }
}

// Weak: a Blob the caller drops takes its entry with it.
const blobFiles = new WeakMap<Blob, FileBody>();

/**
 * fs.openAsBlob(path, options), plus: the client sends this Blob, as a body or a form
 * part, as the file it is (sendfile(2) on plain TCP) rather than through Blob.stream().
 * A Blob made from it (slice(), new File([blob]), a FormData entry with a filename)
 * is a new Blob that Node does not link back to the file: it is sent as any Blob.
 */
export async function openAsBlob(path: string, options?: { type?: string }): Promise<Blob> {
  let blob: Blob;
  let st: Awaited<ReturnType<typeof stat>>;
  try {
    blob = await nodeOpenAsBlob(path, options);
    st = await stat(path);
  } catch (cause) {
    throw new RoundtripError("ERR_REQUEST_BODY", `openAsBlob(): cannot open ${path}`, { cause });
  }
  if (!st.isFile())
    throw new RoundtripError("ERR_REQUEST_BODY", `openAsBlob(): ${path} is not a regular file`);
  if (st.size !== blob.size)
    throw new RoundtripError("ERR_REQUEST_BODY", `openAsBlob(): ${path} changed size while it was opened`);
  blobFiles.set(blob, new BlobFileBody(path, blob.size, st.mtimeMs));
  return blob;
}

/** The file an openAsBlob() Blob stands for, or undefined for any other Blob. */
export function fileOfBlob(blob: Blob): FileBody | undefined {
  return blobFiles.get(blob);
}
