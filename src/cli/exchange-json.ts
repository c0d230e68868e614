/**
 * --format json: the whole exchange as one JSON document — the request as written, the
 * response, the body (UTF-8 text as `body`, anything else as `bodyBase64`; left out with
 * -o), and every hop with its connection facts and phases. Times are milliseconds with
 * microsecond precision; null means the phase did not happen.
 */
import type { ExchangeSummary } from "./exchange.js";
import type { HopPhases } from "./phases.js";
import type { ExchangeRecorder } from "./recorder.js";

const ms = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000) / 1000);

function roundAll<T extends Record<string, number | null>>(o: T): T {
  const out: Record<string, number | null> = {};
  for (const [k, v] of Object.entries(o)) out[k] = ms(v);
  return out as T;
}

function hopJSON(
  h: HopPhases,
  fields: Array<[string, string]>,
  responseHeaders: Array<[string, string]> | null,
) {
  return {
    method: h.method,
    url: h.url,
    status: h.status ?? null,
    statusText: h.statusText ?? null,
    httpVersion: h.httpVersion ?? null,
    error: h.error === undefined ? null : String((h.error as Error).message ?? h.error),
    start: ms(h.start),
    retries: h.retries,
    connection: {
      dialed: h.dialed,
      reused: h.reused,
      wasIdle: h.wasIdle,
      idleTime: ms(h.idleTime),
      dialedAddress: h.dialedAddr ?? null,
      remoteAddress: h.remoteAddress ?? null,
      localAddress: h.localAddress ?? null,
      proxied: h.proxied,
      alpn: h.alpn ?? null,
    },
    durations: roundAll(h.durations),
    marks: roundAll(h.marks),
    informational: h.informational.map((i) => ({ code: i.code, at: ms(i.at) })),
    expectContinue: h.expectContinue && {
      waitFrom: ms(h.expectContinue.waitFrom),
      got: ms(h.expectContinue.got),
    },
    requestHeaders: fields.filter(([k]) => !k.startsWith(":")),
    responseHeaders,
    bodyBytes: h.bodyBytes,
    sentBytes: h.sentBytes,
  };
}

function bodyFields(kept: Buffer | undefined): { body?: string; bodyBase64?: string } {
  if (kept === undefined) return {};
  try {
    return { body: new TextDecoder("utf-8", { fatal: true }).decode(kept) };
  } catch {
    return { bodyBase64: kept.toString("base64") };
  }
}

export function exchangeJSON(x: ExchangeSummary, recorder: ExchangeRecorder, kept: Buffer | undefined) {
  const res = x.response;
  const last = recorder.hops[recorder.hops.length - 1];
  return {
    url: x.url,
    response: res
      ? {
          status: res.status,
          statusText: res.statusText,
          httpVersion: res.httpVersion,
          url: res.url,
          redirected: res.redirected,
          uncompressed: res.uncompressed,
          headers: res.headers.raw(),
          trailers: res.trailers.raw(),
        }
      : null,
    ...bodyFields(kept),
    bodyBytes: last?.received ?? 0,
    output: x.output ?? null,
    total: ms(x.total),
    redirects: Math.max(0, x.hops.length - 1),
    hops: x.hops.map((h, i) => {
      const rec = recorder.hops[i]!;
      const fields = rec.attempts[rec.attempts.length - 1]?.fields ?? [];
      return hopJSON(h, fields, rec.response ? rec.response.headers.raw() : null);
    }),
    error: x.error,
  };
}
