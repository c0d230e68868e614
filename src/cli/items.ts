/**
 * Request items as HTTPie and xh spell them, one argument each:
 *
 *   Header:value    header            Header:   remove a default header
 *   Header;         header with an empty value
 *   name==value     query parameter
 *   name=value      data field (a JSON string; a form field with --form / in multipart)
 *   name:=json      raw JSON field     name:=@file  raw JSON read from a file
 *   name=@file      data field read from a file (text)
 *   name@path       file field: makes the body multipart/form-data, the file streamed
 *                   (`name@path;type=image/png` sets its Content-Type)
 *   @path           the raw request body, streamed from a file
 *
 * The separator is the earliest one in the argument (the longest one at that spot), so
 * `url=http://x` is a data field and `Host:a:80` a header; a backslash makes the next
 * character literal (`a\:b=c` is the field `a:b`). Keys are taken as they are: no
 * HTTPie-style nested JSON paths.
 */
import { UsageError } from "./args.js";

export type Item =
  | { kind: "header"; name: string; value: string }
  | { kind: "unsetHeader"; name: string }
  | { kind: "query"; name: string; value: string }
  | { kind: "field"; name: string; value: string }
  | { kind: "fieldFile"; name: string; path: string }
  | { kind: "json"; name: string; text: string }
  | { kind: "jsonFile"; name: string; path: string }
  | { kind: "file"; name: string; path: string; type?: string }
  | { kind: "rawBody"; path: string };

// Longest first, so that at one position ":=@" beats ":=" beats ":".
const SEPARATORS = [":=@", "=@", "==", ":=", "=", ":", "@", ";"] as const;
type Separator = (typeof SEPARATORS)[number];

export function parseItem(arg: string): Item {
  const parts = split(arg);
  if (parts === null) throw new UsageError(`not a request item: ${JSON.stringify(arg)}`);
  const { name, sep, value } = parts;
  switch (sep) {
    case ":":
      if (name === "") throw new UsageError(`header item without a name: ${JSON.stringify(arg)}`);
      return value === "" ? { kind: "unsetHeader", name } : { kind: "header", name, value };
    case ";":
      if (name === "" || value !== "") throw new UsageError(`bad empty-header item: ${JSON.stringify(arg)}`);
      return { kind: "header", name, value: "" };
    case "==":
      return { kind: "query", name, value };
    case "=":
      return { kind: "field", name, value };
    case "=@":
      return { kind: "fieldFile", name, path: value };
    case ":=":
      return { kind: "json", name, text: value };
    case ":=@":
      return { kind: "jsonFile", name, path: value };
    case "@": {
      if (name === "") return { kind: "rawBody", path: value };
      const m = /^(.*);type=([^;]+)$/.exec(value);
      return m ? { kind: "file", name, path: m[1]!, type: m[2]! } : { kind: "file", name, path: value };
    }
  }
}

/** The unescaped name, the earliest separator and the unescaped rest; null if none. */
function split(arg: string): { name: string; sep: Separator; value: string } | null {
  let name = "";
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i]!;
    if (c === "\\" && i + 1 < arg.length) {
      name += arg[++i];
      continue;
    }
    const sep = SEPARATORS.find((s) => arg.startsWith(s, i));
    if (sep !== undefined) {
      const rest = arg.slice(i + sep.length);
      // A name may be empty only for a raw body (`@path`).
      if (name === "" && sep !== "@") return null;
      return { name, sep, value: unescapeItem(rest) };
    }
    name += c;
  }
  return null;
}

function unescapeItem(s: string): string {
  return s.replace(/\\(.)/g, "$1");
}
