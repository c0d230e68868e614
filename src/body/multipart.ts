/**
 * multipart/form-data (RFC 7578), streamed part by part: file parts are read only when
 * their turn comes, so a 4 GiB file costs no more memory than a 4 KiB one. The length is
 * computed up front when every part's size is known (strings, Blobs); a part given as
 * file(path) makes the body go out chunked.
 */
import { randomBytes } from "node:crypto";
import { basename } from "node:path";
import { RoundtripError } from "../errors.js";
import { FileBody } from "./file.js";
import type { OutgoingBody } from "./outgoing.js";

export type FormValue = string | Blob | FileBody;
export type FormInit = FormData | Record<string, FormValue | FormValue[]>;

interface Part {
  head: Buffer;
  value: Buffer | Blob | FileBody;
  /** For a file() part: its length as measured by prepare(), checked when it is read. */
  expected?: number;
}

/** Browsers' escaping of names and filenames in Content-Disposition (WHATWG HTML). */
function escapeName(s: string): string {
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
  for (const [name, value] of entriesOf(form)) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name)}"`;
    let body: Buffer | Blob | FileBody;
    if (typeof value === "string") {
      head += "\r\n\r\n";
      body = Buffer.from(normalizeNewlines(value), "utf8");
    } else if (value instanceof FileBody) {
      head += `; filename="${escapeName(basename(value.path))}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
      body = value;
    } else if (typeof Blob !== "undefined" && value instanceof Blob) {
      const filename = (value as Blob & { name?: string }).name ?? "blob";
      head += `; filename="${escapeName(filename)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
      body = value;
    } else {
      throw new RoundtripError(
        "ERR_REQUEST_BODY",
        `form field ${JSON.stringify(name)}: unsupported value type`,
      );
    }
    const headBytes = Buffer.from(head, "utf8");
    parts.push({ head: headBytes, value: body });
    fixed += headBytes.length + 2;
    if (Buffer.isBuffer(body)) fixed += body.length;
    else if (body instanceof FileBody) hasFiles = true;
    else fixed += body.size;
  }
  const tail = Buffer.from(`--${boundary}--\r\n`, "latin1");
  fixed += tail.length;

  /** Stats every file() part now, just before the head: the form then goes out with a Content-Length. */
  async function prepare(): Promise<number> {
    let total = fixed;
    for (const part of parts) {
      if (part.value instanceof FileBody) {
        part.expected = await part.value.currentLength();
        total += part.expected;
      }
    }
    return total;
  }
  const crlf = Buffer.from("\r\n", "latin1");

  async function* chunks(): AsyncGenerator<Uint8Array> {
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
          yield* opened.chunks();
        } finally {
          await opened.close();
        }
      } else {
        for await (const c of v.stream() as unknown as AsyncIterable<Uint8Array>) yield c;
      }
      yield crlf;
    }
    yield tail;
  }

  const body: OutgoingBody = {
    kind: "stream",
    length: hasFiles ? null : fixed,
    replayable: true,
    contentType: `multipart/form-data; boundary=${boundary}`,
    bytes: null,
    file: null,
    open: chunks,
  };
  if (hasFiles) body.prepare = prepare;
  return body;
}
