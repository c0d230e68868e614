/**
 * -w / --write-out with curl's variable names and formats, so existing scripts keep
 * working: `%{name}` variables, `%header{name}`, `%{json}` (every variable as one JSON
 * object), `%{header_json}`, `%{stderr}` / `%{stdout}` to switch streams, `%%`, and the
 * escapes `\n`, `\r`, `\t`. Times are seconds with six decimals, as curl prints them.
 *
 * Times follow curl's rules across redirects: time_namelookup, time_connect,
 * time_appconnect, time_pretransfer and time_starttransfer add up each hop's time from
 * its own start; time_redirect is the time before the last hop began; time_total runs
 * from the start to the end of the last body. On a reused connection the moments that
 * did not happen (DNS, connect, TLS) count as the moment the connection was handed over,
 * as curl counts them. Variables roundtrip cannot know (certs, ssl_verify_result,
 * local_port, http_connect…) are not offered: asking for one warns, as curl warns about
 * an unknown variable.
 */
import type { ExchangeSummary } from "./exchange.js";
import type { HopPhases } from "./phases.js";

type Value =
  | { kind: "time"; seconds: number }
  | { kind: "int"; n: number }
  /** A status code: three digits in text ("000" when there was no response), a number in JSON. */
  | { kind: "code"; n: number }
  | { kind: "str"; s: string | null };

const time = (ms: number): Value => ({ kind: "time", seconds: ms / 1000 });
const int = (n: number): Value => ({ kind: "int", n });
const str = (s: string | null | undefined): Value => ({ kind: "str", s: s ?? null });

/** curl's additive time: each hop's moment from its own start, summed; null moments count 0. */
function additive(hops: readonly HopPhases[], mark: keyof HopPhases["marks"]): number {
  return hops.reduce((sum, h) => sum + (h.marks[mark] ?? 0), 0);
}

function hostAndPort(addr: string | undefined): { ip: string | null; port: number | null } {
  if (addr === undefined) return { ip: null, port: null };
  const i = addr.lastIndexOf(":");
  return { ip: addr.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(addr.slice(i + 1)) };
}

/** Every variable roundtrip offers, in the order curl's %{json} lists them. */
export function variables(x: ExchangeSummary): Map<string, Value> {
  const hops = x.hops;
  const final = hops[hops.length - 1];
  const res = x.response;
  const status = res?.status ?? 0;
  const totalMs = x.total;
  const totalS = totalMs / 1000;
  const finalURL = res?.url ?? final?.url ?? x.url;
  const dialed = hostAndPort(final?.dialedAddr);
  const remoteIP = final?.remoteAddress ?? dialed.ip;
  const remotePort =
    dialed.port ?? (finalURL ? Number(new URL(finalURL).port || defaultPort(finalURL)) : null);
  const download = final?.bodyBytes ?? 0;
  const upload = final?.sentBytes ?? 0;
  const v = new Map<string, Value>();
  v.set("content_type", str(res?.headers.get("content-type")));
  v.set("errormsg", str(x.error?.message));
  v.set("exitcode", int(x.error?.exitCode ?? 0));
  v.set("filename_effective", str(x.output));
  v.set("http_code", { kind: "code", n: status });
  v.set("http_version", str(res === undefined ? "0" : res.httpVersion === "1.0" ? "1" : res.httpVersion));
  v.set("local_ip", str(final?.localAddress ?? ""));
  v.set("method", str(final?.method));
  v.set("num_connects", int(x.connects));
  v.set("num_headers", int(res?.headers.size ?? 0));
  v.set("num_redirects", int(Math.max(0, hops.length - 1)));
  v.set("num_retries", int(hops.reduce((n, h) => n + h.retries, 0)));
  v.set("redirect_url", str(x.redirectURL));
  v.set("remote_ip", str(remoteIP ?? ""));
  v.set("remote_port", int(remotePort ?? 0));
  v.set("response_code", { kind: "code", n: status });
  v.set("scheme", str(finalURL ? new URL(finalURL).protocol.slice(0, -1).toUpperCase() : null));
  v.set("size_download", int(download));
  v.set("size_header", int(x.responseHeadBytes));
  v.set("size_request", int(x.requestHeadBytes));
  v.set("size_upload", int(upload));
  v.set("speed_download", int(totalS > 0 ? Math.round(download / totalS) : 0));
  v.set("speed_upload", int(totalS > 0 ? Math.round(upload / totalS) : 0));
  v.set("time_appconnect", time(additive(hops, "appconnect")));
  v.set("time_connect", time(additive(hops, "connect")));
  v.set("time_namelookup", time(additive(hops, "namelookup")));
  v.set("time_posttransfer", time(additive(hops, "posttransfer")));
  v.set("time_pretransfer", time(additive(hops, "pretransfer")));
  v.set("time_queue", time(hops.reduce((n, h) => n + (h.durations.wait ?? 0), 0)));
  v.set("time_redirect", time(hops.length > 1 ? final!.start : 0));
  v.set("time_starttransfer", time(additive(hops, "starttransfer")));
  v.set("time_total", time(totalMs));
  v.set("url", str(x.url));
  v.set("url_effective", str(finalURL));
  v.set("urlnum", int(0));
  return v;
}

function defaultPort(url: string): string {
  return url.startsWith("https:") ? "443" : "80";
}

function text(v: Value): string {
  if (v.kind === "time") return v.seconds.toFixed(6);
  if (v.kind === "int") return String(v.n);
  if (v.kind === "code") return String(v.n).padStart(3, "0");
  return v.s ?? "";
}

function json(v: Value): string {
  if (v.kind === "time") return v.seconds.toFixed(6);
  if (v.kind === "int" || v.kind === "code") return String(v.n);
  return v.s === null ? "null" : JSON.stringify(v.s);
}

export interface WriteOutChunk {
  stream: "stdout" | "stderr";
  text: string;
}

/** Expands `format`; unknown variables are reported through `warn` and print nothing. */
export function expandWriteOut(
  format: string,
  x: ExchangeSummary,
  warn: (message: string) => void,
): WriteOutChunk[] {
  const vars = variables(x);
  const out: WriteOutChunk[] = [];
  let stream: WriteOutChunk["stream"] = "stdout";
  let buf = "";
  const flush = () => {
    if (buf !== "") out.push({ stream, text: buf });
    buf = "";
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === "\\" && i + 1 < format.length) {
      const e = format[i + 1]!;
      const esc = e === "n" ? "\n" : e === "r" ? "\r" : e === "t" ? "\t" : null;
      if (esc !== null) {
        buf += esc;
        i++;
        continue;
      }
      buf += c;
      continue;
    }
    if (c !== "%") {
      buf += c;
      continue;
    }
    if (format[i + 1] === "%") {
      buf += "%";
      i++;
      continue;
    }
    const m = /^%(header)?\{([^}]*)\}/.exec(format.slice(i));
    if (m === null) {
      buf += c;
      continue;
    }
    i += m[0].length - 1;
    const name = m[2]!;
    if (m[1] === "header") {
      buf += x.response?.headers.getAll(name).join(", ") ?? "";
      continue;
    }
    if (name === "stderr" || name === "stdout") {
      flush();
      stream = name;
      continue;
    }
    if (name === "json") {
      buf += `{${[...vars].map(([k, val]) => `${JSON.stringify(k)}:${json(val)}`).join(",")}}`;
      continue;
    }
    if (name === "header_json") {
      buf += JSON.stringify(headerJSON(x));
      continue;
    }
    const val = vars.get(name);
    if (val === undefined) warn(`unknown --write-out variable: '${name}'`);
    else buf += text(val);
  }
  flush();
  return out;
}

/** curl's %{header_json}: every response field by lower-cased name, values as arrays. */
function headerJSON(x: ExchangeSummary): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of x.response?.headers.raw() ?? []) {
    const key = k.toLowerCase();
    const list = out[key];
    if (list) list.push(v);
    else out[key] = [v];
  }
  return out;
}
