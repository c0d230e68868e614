/**
 * RecordingTransport: records real exchanges to a JSON file and replays them without
 * the network, so a test written against a live service runs offline and byte for byte
 * the same (status, reason, headers in order with their casing, trailers, body bytes,
 * HTTP version, contentLength, uncompressed).
 *
 * Modes:
 *  - "record": every request goes to `transport`; the file is rewritten with this run's
 *    exchanges (each written before its response is returned).
 *  - "replay": requests are answered from the file only; one that was not recorded (or
 *    asked more often than it was) fails with ERR_MOCK_NOT_MATCHED naming the closest
 *    recorded exchanges. Nothing is sent.
 *  - "update": replays what the file has; what it lacks is sent and appended.
 *
 * A replayed request matches a recorded one by method, URL and body, after the query and
 * body normalizers; each recording answers once, in the order recorded. In record mode
 * the caller gets the response as stored (after normalizers), so a test sees the same
 * thing in both modes.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import { RoundtripError } from "../errors.js";
import { Headers } from "../http1/headers.js";
import { type PreparedRequest, prepareRequest, type TransportRequest } from "../transport/prepared.js";
import { Response, type ResponseInit } from "../transport/response.js";
import type { RoundTripper, TransportStats } from "../transport/transport.js";
import { readRequestBody } from "./exchange.js";
import { MockTransport, setInterceptorNoun } from "./mock.js";

export interface RecordingNormalizers {
  /**
   * Rewrites the header fields to store (of a request, or of a response before it is
   * returned and stored). Default: a request's Authorization, Proxy-Authorization and
   * Cookie values are stored as "[redacted]"; a normalizer given here replaces that.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: a normalizer may mutate its argument and return nothing.
  headers?: (headers: Headers, ctx: { kind: "request" | "response"; url: URL }) => Headers | void;
  /** Rewrites the query before it is stored and matched (drop a timestamp, a nonce). */
  // biome-ignore lint/suspicious/noConfusingVoidType: as above.
  query?: (params: URLSearchParams, ctx: { url: URL }) => URLSearchParams | void;
  /** Rewrites a body before it is stored (and, for a request, matched). */
  body?: (
    body: Uint8Array,
    ctx: { kind: "request" | "response"; url: URL; headers: Headers },
    // biome-ignore lint/suspicious/noConfusingVoidType: as above.
  ) => Uint8Array | string | void;
}

export interface RecordingTransportOptions {
  /** The real transport, for "record" and "update" (unused by "replay"). */
  transport?: RoundTripper;
  /** The JSON file holding the recording. */
  file: string;
  mode: "record" | "replay" | "update";
  normalize?: RecordingNormalizers;
}

type StoredBody = { text: string } | { base64: string };

/** One exchange as the file holds it. */
interface Recorded {
  request: { method: string; url: string; headers: Array<[string, string]>; body?: StoredBody };
  response: {
    status: number;
    statusText: string;
    httpVersion: "1.0" | "1.1" | "2";
    headers: Array<[string, string]>;
    trailers?: Array<[string, string]>;
    body?: StoredBody;
    contentLength: number;
    uncompressed: boolean;
  };
}

interface RecordingFile {
  roundtripRecording: 1;
  exchanges: Recorded[];
}

const SENSITIVE = new Set(["authorization", "proxy-authorization", "cookie"]);

export class RecordingTransport implements RoundTripper {
  readonly mode: "record" | "replay" | "update";
  readonly file: string;
  readonly #transport: RoundTripper | null;
  readonly #normalize: RecordingNormalizers;
  /** Exchanges to write: this run's (record), or the file's and this run's (update). */
  #entries: Recorded[] = [];
  /** The file loaded into a replaying mock, once. */
  #replay: Promise<MockTransport | null> | null = null;
  /** Writes in order; each roundTrip waits for its own. */
  #writing: Promise<void> = Promise.resolve();

  constructor(options: RecordingTransportOptions) {
    const { mode, file } = options;
    if (mode !== "record" && mode !== "replay" && mode !== "update")
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        'RecordingTransport mode must be "record", "replay" or "update"',
      );
    if (typeof file !== "string" || file === "")
      throw new RoundtripError("ERR_INVALID_REQUEST", "RecordingTransport needs a file");
    if (mode !== "replay" && options.transport === undefined)
      throw new RoundtripError("ERR_INVALID_REQUEST", `RecordingTransport mode "${mode}" needs a transport`);
    this.mode = mode;
    this.file = file;
    this.#transport = options.transport ?? null;
    this.#normalize = options.normalize ?? {};
  }

  async roundTrip(opts: TransportRequest): Promise<Response> {
    const req = prepareRequest(opts);
    const body = await readRequestBody(req.body);
    const url = this.#normalizedURL(req.target.url);
    const reqBody = this.#normalizedBody(body, "request", req.target.url, req.headers ?? new Headers());
    if (this.mode !== "record") {
      const mock = await this.#loadReplay();
      if (mock !== null) {
        try {
          const res = await mock.roundTrip({
            ...opts,
            url,
            headers: req.headers ?? undefined,
            body: reqBody.length > 0 ? reqBody : undefined,
            json: undefined,
            form: undefined,
            getBody: undefined,
          });
          res.url = req.target.url.href;
          return res;
        } catch (err) {
          if (
            this.mode === "replay" ||
            !(err instanceof RoundtripError) ||
            err.code !== "ERR_MOCK_NOT_MATCHED"
          )
            throw err;
        }
      } else if (this.mode === "replay") {
        throw new RoundtripError(
          "ERR_MOCK_NOT_MATCHED",
          `no recording at ${this.file} to replay ${req.method} ${req.displayURL} from (record it with mode: "record")`,
          { url: req.displayURL },
        );
      }
    }
    return this.#record(opts, req, body, url, reqBody);
  }

  async #record(
    opts: TransportRequest,
    req: PreparedRequest,
    body: Uint8Array,
    url: string,
    reqBody: Uint8Array,
  ): Promise<Response> {
    const forward: TransportRequest = { ...opts, headers: req.headers ?? undefined };
    delete forward.json;
    delete forward.form;
    delete forward.getBody;
    if (req.body !== null) forward.body = body;
    else delete forward.body;
    const res = await this.#transport!.roundTrip(forward);
    const bytes = await res.bytes();
    const target = req.target.url;
    const resHeaders = this.#normalizedHeaders(res.headers, "response", target);
    const resBody = this.#normalizedBody(bytes, "response", target, resHeaders);
    const entry: Recorded = {
      request: {
        method: req.method,
        url,
        headers: this.#normalizedHeaders(req.headers ?? new Headers(), "request", target).raw(),
        ...storedBody(reqBody),
      },
      response: {
        status: res.status,
        statusText: res.statusText,
        httpVersion: res.httpVersion,
        headers: resHeaders.raw(),
        ...(res.trailers.size > 0 ? { trailers: res.trailers.raw() } : {}),
        ...storedBody(resBody),
        contentLength: res.contentLength,
        uncompressed: res.uncompressed,
      },
    };
    this.#entries.push(entry);
    await this.#save();
    const out = responseOf(entry, target.href);
    out.timings = res.timings;
    out.conn = res.conn;
    return out;
  }

  #normalizedURL(url: URL): string {
    const fn = this.#normalize.query;
    if (fn === undefined || url.search === "") return url.href;
    const copy = new URL(url.href);
    const given = new URLSearchParams(copy.searchParams);
    copy.search = (fn(given, { url: new URL(url.href) }) || given).toString();
    return copy.href;
  }

  #normalizedBody(body: Uint8Array, kind: "request" | "response", url: URL, headers: Headers): Uint8Array {
    const fn = this.#normalize.body;
    if (fn === undefined) return body;
    const out = fn(body, { kind, url, headers });
    if (out === undefined || out === null) return body;
    return typeof out === "string" ? Buffer.from(out, "utf8") : out;
  }

  #normalizedHeaders(headers: Headers, kind: "request" | "response", url: URL): Headers {
    const fn = this.#normalize.headers;
    if (fn !== undefined) {
      const copy = new Headers(headers);
      return fn(copy, { kind, url }) || copy;
    }
    if (kind === "response") return headers;
    // Each line keeps its place and casing.
    return new Headers(
      headers.raw().map(([n, v]) => [n, SENSITIVE.has(n.toLowerCase()) ? "[redacted]" : v] as const),
    );
  }

  #loadReplay(): Promise<MockTransport | null> {
    this.#replay ??= this.#load();
    return this.#replay;
  }

  async #load(): Promise<MockTransport | null> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new RoundtripError("ERR_INVALID_REQUEST", `cannot read the recording ${this.file}`, {
        cause: err,
      });
    }
    let parsed: RecordingFile;
    try {
      parsed = JSON.parse(text) as RecordingFile;
      if (parsed.roundtripRecording !== 1 || !Array.isArray(parsed.exchanges))
        throw new Error("not a recording");
    } catch (cause) {
      throw new RoundtripError("ERR_INVALID_REQUEST", `${this.file} is not a roundtrip recording`, { cause });
    }
    if (this.mode === "update") this.#entries = parsed.exchanges.slice();
    const mock = new MockTransport();
    setInterceptorNoun(mock, `recorded exchange in ${this.file}`);
    for (const entry of parsed.exchanges) {
      const u = new URL(entry.request.url);
      mock
        .intercept({
          origin: u.origin,
          path: u.pathname + u.search,
          method: entry.request.method,
          body: bytesOf(entry.request.body),
        })
        .reply(() => responseOf(entry, ""));
    }
    return mock;
  }

  async #save(): Promise<void> {
    const file: RecordingFile = { roundtripRecording: 1, exchanges: this.#entries };
    const text = `${JSON.stringify(file, null, 2)}\n`;
    const write = this.#writing.then(async () => {
      // A reader never sees half a file: write aside, then rename over.
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, this.file);
    });
    this.#writing = write.catch(() => {});
    await write;
  }

  closeIdleConnections(): void {
    (
      this.#transport as Partial<Pick<RecordingTransport, "closeIdleConnections">> | null
    )?.closeIdleConnections?.();
  }

  /** Waits for the file to be written, then closes the wrapped transport. */
  async close(): Promise<void> {
    await this.#writing;
    await (this.#transport as Partial<Pick<RecordingTransport, "close">> | null)?.close?.();
  }

  stats(): TransportStats {
    const inner = (this.#transport as Partial<Pick<RecordingTransport, "stats">> | null)?.stats?.();
    return inner ?? { total: 0, active: 0, idle: 0, dialing: 0, waiting: 0, perHost: {} };
  }
}

/** Text when the bytes are UTF-8 that reads back the same; base64 otherwise; nothing when empty. */
function storedBody(bytes: Uint8Array): { body?: StoredBody } {
  if (bytes.length === 0) return {};
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = b.toString("utf8");
  return Buffer.from(text, "utf8").equals(b)
    ? { body: { text } }
    : { body: { base64: b.toString("base64") } };
}

function bytesOf(body: StoredBody | undefined): Uint8Array {
  if (body === undefined) return new Uint8Array(0);
  return "text" in body ? Buffer.from(body.text, "utf8") : Buffer.from(body.base64, "base64");
}

/** The stored response, as the transport returned it when it was recorded. */
function responseOf(entry: Recorded, url: string): Response {
  const r = entry.response;
  const init: ResponseInit = {
    status: r.status,
    statusText: r.statusText,
    httpVersion: r.httpVersion,
    headers: r.headers,
    url,
  };
  if (r.trailers !== undefined) init.trailers = r.trailers;
  // Bytes, never text: a string body would add a Content-Type the recording did not have.
  const res = new Response(bytesOf(r.body), init);
  res.contentLength = r.contentLength;
  res.uncompressed = r.uncompressed;
  return res;
}
