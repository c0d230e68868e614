/**
 * One exchange summarised from its recording, for the outputs that describe it as a
 * whole: -w (curl's variables) and --format json.
 */
import type { Response } from "../index.js";
import { type HopPhases, hopPhases } from "./phases.js";
import type { ExchangeRecorder, HopRecord } from "./recorder.js";

export interface ExchangeSummary {
  /** The URL as given (shorthands expanded), before any redirect. */
  url: string;
  hops: HopPhases[];
  /** The last hop's response, when there was one. */
  response: Response | undefined;
  /** Bytes of the request heads written, every hop (curl's size_request). */
  requestHeadBytes: number;
  /** Bytes of the response heads received, every hop (curl's size_header; 1xx heads not counted). */
  responseHeadBytes: number;
  /** New connections made and used, every hop and attempt (curl's num_connects; a failed dial is not one). */
  connects: number;
  /** Where a 3xx that was not followed points, resolved (curl's redirect_url). */
  redirectURL: string | null;
  output: string | undefined;
  error: { message: string; exitCode: number } | null;
  /** ms from the start to the end of the last body (or the failure). */
  total: number;
}

export function summarize(
  recorder: ExchangeRecorder,
  url: string,
  output: string | undefined,
  error: { message: string; exitCode: number } | null,
  end: number,
): ExchangeSummary {
  const hops = recorder.hops.map(hopPhases);
  const last = recorder.hops[recorder.hops.length - 1];
  const response = last?.response;
  let redirectURL: string | null = null;
  const location = response?.headers.get("location");
  if (response && response.status >= 300 && response.status < 400 && location) {
    try {
      redirectURL = new URL(location, response.url).href;
    } catch {
      redirectURL = null;
    }
  }
  return {
    url,
    hops,
    response,
    requestHeadBytes: recorder.hops.reduce((n, h) => n + requestHeadSize(h), 0),
    responseHeadBytes: recorder.hops.reduce((n, h) => n + responseHeadSize(h.response), 0),
    connects: recorder.hops.reduce(
      (n, h) => n + h.attempts.filter((a) => a.gotConn !== undefined && !a.gotConn.reused).length,
      0,
    ),
    redirectURL,
    output,
    error,
    total: end,
  };
}

/** The request head as serialized: request line, the fields written, the blank line. */
function requestHeadSize(hop: HopRecord): number {
  const a = hop.attempts[hop.attempts.length - 1];
  if (a === undefined || a.wroteHeaders === undefined) return 0;
  const u = new URL(hop.url);
  let n = Buffer.byteLength(`${hop.method} ${u.pathname}${u.search} HTTP/1.1\r\n`, "latin1");
  for (const [k, v] of a.fields) if (!k.startsWith(":")) n += Buffer.byteLength(`${k}: ${v}\r\n`, "latin1");
  return n + 2;
}

function responseHeadSize(res: Response | undefined): number {
  if (res === undefined) return 0;
  let n = Buffer.byteLength(`HTTP/${res.httpVersion} ${res.status} ${res.statusText}\r\n`, "latin1");
  for (const [k, v] of res.headers.raw()) n += Buffer.byteLength(`${k}: ${v}\r\n`, "latin1");
  return n + 2;
}
