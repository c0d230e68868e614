/**
 * How heads and JSON bodies look on screen: HTTPie's layout for --print (heads as on the
 * wire, JSON indented), curl's `> ` / `< ` / `* ` lines for -v, colours from a Palette.
 */
import type { Response } from "../index.js";
import type { Palette } from "./style.js";

function statusColor(status: number, p: Palette): (s: string) => string {
  if (status < 300) return p.green;
  if (status < 400) return p.yellow;
  return p.red;
}

/** The request line and fields as written (HTTP/2 pseudo-fields folded into the line). */
export function requestHeadLines(
  method: string,
  url: string,
  fields: ReadonlyArray<[string, string]>,
  p: Palette,
): string[] {
  const u = new URL(url);
  const lines = [`${p.bold(method)} ${u.pathname}${u.search} ${p.dim("HTTP/1.1")}`];
  for (const [k, v] of fields) if (!k.startsWith(":")) lines.push(`${p.cyan(k)}: ${v}`);
  return lines;
}

export function responseHeadLines(res: Response, p: Palette): string[] {
  const color = statusColor(res.status, p);
  const lines = [
    `${p.dim(`HTTP/${res.httpVersion}`)} ${color(p.bold(`${res.status} ${res.statusText}`.trimEnd()))}`,
  ];
  for (const [k, v] of res.headers.raw()) lines.push(`${p.cyan(k)}: ${v}`);
  return lines;
}

/** `application/json`, `application/problem+json`, `text/json`: bodies worth indenting. */
export function isJSONType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const mime = contentType.split(";", 1)[0]!.trim().toLowerCase();
  return /^[a-z]+\/(?:[\w.-]+\+)?json$/.test(mime);
}

/** `value` indented by four spaces (HTTPie's layout), keys and scalars coloured. */
export function prettyJSON(value: unknown, p: Palette): string {
  const out: string[] = [];
  const walk = (v: unknown, indent: string): void => {
    if (v === null) out.push(p.magenta("null"));
    else if (typeof v === "boolean") out.push(p.magenta(String(v)));
    else if (typeof v === "number") out.push(p.cyan(String(v)));
    else if (typeof v === "string") out.push(p.green(JSON.stringify(v)));
    else if (Array.isArray(v)) {
      if (v.length === 0) return void out.push("[]");
      out.push("[\n");
      v.forEach((item, i) => {
        out.push(`${indent}    `);
        walk(item, `${indent}    `);
        out.push(i < v.length - 1 ? ",\n" : "\n");
      });
      out.push(`${indent}]`);
    } else {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) return void out.push("{}");
      out.push("{\n");
      entries.forEach(([k, item], i) => {
        out.push(`${indent}    ${p.blue(JSON.stringify(k))}: `);
        walk(item, `${indent}    `);
        out.push(i < entries.length - 1 ? ",\n" : "\n");
      });
      out.push(`${indent}}`);
    }
  };
  walk(value, "");
  return out.join("");
}

/** curl -v: request lines with "> ", response lines with "< ", notes with "* ". */
export function verboseLines(prefix: ">" | "<" | "*", lines: readonly string[]): string {
  return lines.map((l) => `${prefix} ${l}`).join("\n") + "\n";
}
