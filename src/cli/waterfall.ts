/**
 * --timings: each hop drawn as httpstat draws a request — a row of phase boxes, then the
 * running total at the end of each phase — followed by what only the trace knows: the
 * connection (dialed or reused, how long it sat idle), 1xx responses and the
 * 100-continue wait, retries, the proxy handshake. A redirect chain gets one block per hop.
 *
 * Phases that did not happen are left out (no DNS for an IP literal, no TCP or TLS on a
 * reused connection, no tunnel without a proxy). The running totals are the sums of the
 * boxes, labelled with curl's -w names where curl has one.
 */
import type { HopPhases } from "./phases.js";
import { center, formatMs, type Palette } from "./style.js";

interface Column {
  label: string;
  /** Name of the moment the phase ends at. */
  end: string;
  ms: number;
}

function columnsOf(h: HopPhases): Column[] {
  const d = h.durations;
  const cols: Column[] = [];
  const add = (label: string, end: string, ms: number | null) => {
    if (ms !== null) cols.push({ label, end, ms });
  };
  if (h.retries > 0) add("Retries", "retried", d.retry);
  add("Conn Wait", "queued", d.wait);
  if (h.dialed) {
    add("DNS Lookup", "namelookup", d.dns);
    add("TCP Connection", "connect", d.connect);
    // CONNECT or SOCKS; for plain http through an HTTP proxy there is no handshake and
    // this is only the moment between connecting to the proxy and sending.
    if (h.proxied) add("Proxy Setup", "tunnel", d.tunnel);
    add("TLS Handshake", "appconnect", d.tls);
  }
  add("Request Sent", "sent", d.send);
  add("Server Processing", "starttransfer", d.server);
  add("Content Transfer", "total", d.transfer);
  add("Failed", "failed", d.failed);
  return cols;
}

/** The httpstat drawing of one hop's phases. */
export function drawPhases(cols: readonly Column[], p: Palette): string[] {
  if (cols.length === 0) return [];
  const values = cols.map((c) => formatMs(c.ms));
  const widths = cols.map((c, i) => Math.max(c.label.length, values[i]!.length) + 4);
  const lines: string[] = [];
  lines.push(` ${cols.map((c, i) => center(c.label, widths[i]!)).join(" ")}`.trimEnd());
  lines.push(`[${cols.map((_, i) => p.cyan(center(values[i]!, widths[i]!))).join("|")}]`);
  // Column index of each boundary character ("|" between boxes, "]" at the end).
  const bounds: number[] = [];
  let x = 0;
  for (const w of widths) {
    x += w + 1;
    bounds.push(x);
  }
  const rail = (from: number) => {
    let s = "";
    let at = from;
    for (const b of bounds) {
      if (b < at) continue;
      s += " ".repeat(b - at) + "|";
      at = b + 1;
    }
    return s;
  };
  lines.push(rail(0));
  let total = 0;
  cols.forEach((c, i) => {
    total += c.ms;
    const text = `${c.end}:${formatMs(total)}`;
    const startAt = Math.max(0, bounds[i]! - text.length + 1);
    const shown = `${c.end}:${p.cyan(formatMs(total))}`;
    lines.push(" ".repeat(startAt) + shown + rail(startAt + text.length));
  });
  return lines;
}

function connectionLine(h: HopPhases): string | null {
  if (h.reused) {
    const idle = h.wasIdle ? `, idle ${formatMs(h.idleTime)} before this request` : "";
    const to = h.hostPort ? ` to ${h.hostPort}${h.remoteAddress ? ` (${h.remoteAddress})` : ""}` : "";
    return `reused connection${to}${idle}`;
  }
  if (h.dialed && h.dialFailed) return `connecting to ${h.dialedAddr ?? h.hostPort} failed`;
  if (h.dialed) {
    const via = h.proxied ? ` (proxy ${h.dialedAddr})` : h.dialedAddr ? ` to ${h.dialedAddr}` : "";
    const local = h.localAddress ? `, from ${h.localAddress}` : "";
    return `new connection${via}${local}`;
  }
  return null;
}

function detailLines(h: HopPhases, p: Palette): string[] {
  const out: string[] = [];
  const conn = connectionLine(h);
  if (conn) out.push(conn + (h.alpn ? `, ALPN ${h.alpn}` : ""));
  if (h.proxied && h.durations.tunnel !== null) {
    out.push(`proxy setup (CONNECT or SOCKS handshake, if any) took ${p.cyan(formatMs(h.durations.tunnel))}`);
  }
  if (h.retries > 0) {
    out.push(
      `retried ${h.retries} time${h.retries > 1 ? "s" : ""}: the failed attempt${h.retries > 1 ? "s" : ""} took ${p.cyan(formatMs(h.durations.retry ?? 0))}`,
    );
  }
  if (h.expectContinue !== null) {
    const e = h.expectContinue;
    out.push(
      e.got === null
        ? `Expect: 100-continue — waited from ${formatMs(e.waitFrom)}, no 100 came (body sent after the timeout or a final status)`
        : `Expect: 100-continue — 100 after ${p.cyan(formatMs(e.got - e.waitFrom))} (at ${formatMs(e.got)})`,
    );
  }
  for (const i of h.informational) {
    if (i.code === 100 && h.expectContinue !== null) continue;
    out.push(`${i.code} informational response at ${p.cyan(formatMs(i.at))}`);
  }
  return out;
}

function title(h: HopPhases, p: Palette): string {
  const status =
    h.status !== undefined
      ? `${p.bold(String(h.status))} ${h.statusText ?? ""}`.trimEnd()
      : p.red(`failed: ${(h.error as Error | undefined)?.message ?? "no response"}`);
  const version = h.httpVersion ? `  HTTP/${h.httpVersion}` : "";
  return `${h.method} ${h.url} → ${status}${version}`;
}

export function renderTimings(hops: readonly HopPhases[], p: Palette): string {
  const blocks: string[] = [];
  hops.forEach((h, i) => {
    const lines: string[] = [];
    const prefix = hops.length > 1 ? `${p.dim(`hop ${i + 1}/${hops.length}`)}  ` : "";
    lines.push(prefix + title(h, p));
    lines.push("");
    lines.push(...drawPhases(columnsOf(h), p).map((l) => `  ${l}`));
    const details = detailLines(h, p);
    if (details.length > 0) lines.push("", ...details.map((l) => `  ${l}`));
    blocks.push(lines.join("\n"));
  });
  if (hops.length > 1) {
    const last = hops[hops.length - 1]!;
    const total = last.start + (last.marks.total ?? 0);
    blocks.push(
      `${hops.length - 1} redirect${hops.length > 2 ? "s" : ""}, total ${p.cyan(formatMs(total))} (redirects ${p.cyan(formatMs(last.start))})`,
    );
  }
  return `${blocks.join("\n\n")}\n`;
}
