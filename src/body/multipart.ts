/**
 * multipart/form-data (RFC 7578), streamed part by part: file parts are opened only when
 * their turn comes, so a 4 GiB file costs no more memory than a 4 KiB one. The length is
 * computed up front: strings and Blobs know their sizes, and file(path) parts are stat'ed
 * by prepare() just before the head goes out. On a plain TCP connection the file parts
 * (file() and openAsBlob() Blobs) go out with sendfile(2) between the parts' headers.
 */
import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { RoundtripError } from "../errors.js";
import { FileBody, fileOfBlob, type OpenFile } from "./file.js";
import type { OutgoingBody } from "./outgoing.js";

export type FormValue = string | Blob | FileBody;
export type FormInit = FormData | Record<string, FormValue | FormValue[]>;

interface Part {
  head: Buffer;
  value: Buffer | Blob | FileBody;
  /**
   * For a file part: its length as measured by prepare() (file()) or the Blob's size
   * (openAsBlob()), checked when it is opened: the Content-Length already counts it.
   */
  expected: number | undefined;
  /** A file() part: its length is learnt by stat in prepare(). */
  statBeforeHead: boolean;
}

/**
 * Browsers' escaping of names and filenames in Content-Disposition (WHATWG HTML): a CR or
 * LF cannot end the header line, a `"` cannot end the quoted string.
 */
function escapeName(value: unknown): string {
  // A Blob subclass's `name` may be anything: what goes on the wire is its string.
  const s = String(value);
  const escaped = s.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
  // Browsers leave other control bytes as they are; a NUL or another CTL in a part's
  // header line is refused here rather than put on the wire.
  if (/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(escaped)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `form field or file name holds a control character: ${JSON.stringify(s)}`,
    );
  }
  return escaped;
}

/**
 * A part's Content-Type from a Blob's `type`, refused unless it is printable ASCII. A real
 * Blob's type always is (its constructor empties any other), but a subclass's getter can
 * return "text/plain\r\n\r\nforged", which would end the part head and inject headers and
 * a body into the form (undici GHSA-m8rv-5g2x-5cg5). Unlike names, a media type has no
 * escaping: it is refused.
 */
function partContentType(type: unknown, field: string): string {
  const s = String(type ?? "");
  if (s === "") return "application/octet-stream";
  if (!/^[\x20-\x7e]*$/.test(s)) {
    throw new RoundtripError(
      "ERR_INVALID_REQUEST",
      `form field ${JSON.stringify(field)}: Blob type holds a character a header cannot carry (CR, LF, NUL or another control or non-ASCII character): ${JSON.stringify(s.slice(0, 80))}`,
    );
  }
  return s;
}

/** Browsers normalize line breaks in string values to CRLF. */
function normalizeNewlines(s: string): string {
  return s.replace(/\r\n|\r|\n/g, "\r\n");
}

function entriesOf(form: FormInit): Array<[string, FormValue]> {
  const out: Array<[string, FormValue]> = [];
  if (typeof FormData !== "undefined" && form instanceof FormData) {
    for (const [k, v] of form as unknown as Iterable<[string, FormDataEntryValue]>)
      out.push([k, v as FormValue]);
    return out;
  }
  for (const [k, v] of Object.entries(form)) {
    if (Array.isArray(v)) for (const item of v) out.push([k, item]);
    else if (v !== undefined) out.push([k, v as FormValue]);
  }
  return out;
}

export function multipartBody(form: FormInit): OutgoingBody {
  const boundary = `----roundtrip${randomBytes(12).toString("hex")}`;
  const parts: Part[] = [];
  // Everything but the bytes of file() parts, whose sizes prepare() learns by stat.
  let fixed = 0;
  let hasFiles = false;
  let toStat = false;
  for (const [name, value] of entriesOf(form)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
    let body: Buffer | Blob | FileBody;
    let expected: number | undefined;
    if (typeof value === "string") {
      head += "\r\n\r\n";
      body = Buffer.from(normalizeNewlines(value), "utf8");
    } else if (value instanceof FileBody) {
      head += `; filename="${escapeName(basename(value.path))}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      body = value;
    } else if (typeof Blob !== "undefined" && value instanceof Blob) {
      const filename = (value as Blob & { name?: string }).name ?? "blob";
      head += `; filename="${escapeName(filename)}"\r\nContent-Type: ${partContentType(value.type, name)}\r\n\r\n`;
      // An openAsBlob() Blob goes out as its file; its size is fixed, so it needs no stat.
      body = fileOfBlob(value) ?? value;
      if (body instanceof FileBody) expected = value.size;
    } else {
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `form field ${JSON.stringify(name)}: unsupported value type`,
      );
    }
    const headBytes = Buffer.from(head, "utf8");
    const statBeforeHead = body instanceof FileBody && expected === undefined;
    parts.push({ head: headBytes, value: body, expected, statBeforeHead });
    fixed += headBytes.length + 2;
    if (Buffer.isBuffer(body)) fixed += body.length;
    else if (body instanceof FileBody) {
      hasFiles = true;
      if (expected === undefined) toStat = true;
      else fixed += expected;
    } else fixed += body.size;
  }
  const tail = Buffer.from(`--${boundary}--\r\n`, "latin1");
  fixed += tail.length;

  /** Stats every file() part now, just before the head: the form then goes out with a Content-Length. */
  async function prepare(): Promise<number> {
    let total = fixed;
    for (const part of parts) {
      if (part.statBeforeHead && part.value instanceof FileBody) {
        part.expected = await part.value.currentLength();
        total += part.expected;
      }
    }
    return total;
  }
  const crlf = Buffer.from("\r\n", "latin1");

  /** The form in order: part heads and values as bytes, file parts as open files. */
  async function* segments(): AsyncGenerator<Buffer | OpenFile> {
    for (const part of parts) {
      yield part.head;
      const v = part.value;
      if (Buffer.isBuffer(v)) yield v;
      else if (v instanceof FileBody) {
        const opened = await v.open();
        try {
          if (part.expected !== undefined && opened.length !== part.expected) {
            throw new RoundtripError(
              "ERR_REQUEST_BODY",
              `form file ${v.path} changed size before it was sent (${part.expected} → ${opened.length} bytes)`,
            );
          }
          yield opened;
        } finally {
          await opened.close();
        }
      } else {
        for await (const c of v.stream() as unknown as AsyncIterable<Uint8Array>)
          yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
      }
      yield crlf;
    }
    yield tail;
  }

  async function* chunks(): AsyncGenerator<Uint8Array> {
    for await (const seg of segments()) {
      if (Buffer.isBuffer(seg)) yield seg;
      else {
        yield* seg.chunks();
        // Its length is already in the Content-Length: a file that grew sent other bytes.
        await seg.checkUnchanged();
      }
    }
  }

  const body: OutgoingBody = {
    kind: "stream",
    length: toStat ? null : fixed,
    replayable: true,
    contentType: `multipart/form-data; boundary=${boundary}`,
    bytes: null,
    file: null,
    open: chunks,
  };
  if (hasFiles) body.segments = segments;
  if (toStat) body.prepare = prepare;
  return body;
}
