/**
 * What the request body is, decided from request items and curl's data flags, as plain
 * data: nothing is opened here (file contents for `=@` / `:=@` / `-d @file` excepted,
 * which are small by nature), so `--curl` can print the same request it would send.
 *
 * One kind of body per request: items (JSON by default, urlencoded with --urlencoded,
 * multipart when a file field or -F is present or with --multipart), curl's -d pieces
 * (joined with `&`, urlencoded), a raw body (`@path`, --data-binary), or none. Mixing kinds
 * is a UsageError, as in xh.
 */
import { readFileSync } from "node:fs";
import { UsageError } from "./args.js";
import type { Item } from "./items.js";

export type MultipartPart = { name: string; value: string } | { name: string; path: string; type?: string };

export type BodyPlan =
  | { kind: "none" }
  | { kind: "json"; value: Record<string, unknown> }
  | { kind: "urlencoded"; pairs: Array<[string, string]> }
  /** curl's -d: the pieces joined with "&", sent as given (already urlencoded). */
  | { kind: "data"; text: string }
  | { kind: "multipart"; parts: MultipartPart[] }
  /** A raw body from a file (`@path`; `curl`: from --data-binary @path), streamed. */
  | { kind: "file"; path: string; curl: boolean }
  /** A raw body given on the command line (`--data-binary text`). */
  | { kind: "text"; text: string }
  /** The raw body is standard input (`@-`; `curl`: from -d @- or --data-binary @-). */
  | { kind: "stdin"; curl: boolean };

export interface DataFlags {
  /** -d / --data values (curl: `@file` reads the file and drops CR and LF). */
  data: string[];
  /** --data-raw values (no `@` meaning). */
  dataRaw: string[];
  /** --data-binary values (`@file` streams the file as is). */
  dataBinary: string[];
  /** -F / --form values: `name=value`, `name=@path`, `name=@path;type=mime`. */
  form: string[];
  urlencoded: boolean;
  multipart: boolean;
}

export function planBody(items: readonly Item[], flags: DataFlags): BodyPlan {
  const dataItems = items.filter(
    (i) => i.kind !== "header" && i.kind !== "unsetHeader" && i.kind !== "query",
  );
  const curlData = flags.data.length + flags.dataRaw.length;
  const kinds = [
    dataItems.length > 0,
    curlData > 0,
    flags.dataBinary.length > 0,
    flags.form.length > 0,
  ].filter(Boolean).length;
  const raw = dataItems.filter((i) => i.kind === "rawBody");
  if (raw.length > 1) throw new UsageError("only one raw body (@path) can be given");
  if (kinds > 1 || (raw.length === 1 && dataItems.length > 1)) {
    throw new UsageError(
      "give the body one way: request items, -d/--data, --data-binary, -F/--form, or one @path",
    );
  }
  if (raw.length === 1) {
    const path = (raw[0] as { path: string }).path;
    return path === "-" ? { kind: "stdin", curl: false } : { kind: "file", path, curl: false };
  }
  if (flags.dataBinary.length > 0) {
    if (flags.dataBinary.length === 1 && flags.dataBinary[0]!.startsWith("@")) {
      const path = flags.dataBinary[0]!.slice(1);
      return path === "-" ? { kind: "stdin", curl: true } : { kind: "file", path, curl: true };
    }
    return { kind: "text", text: flags.dataBinary.map(curlDataBinary).join("&") };
  }
  if (curlData > 0) {
    if (flags.data.includes("@-")) {
      if (flags.data.length + flags.dataRaw.length > 1)
        throw new UsageError("-d @- cannot be mixed with other -d");
      return { kind: "stdin", curl: true };
    }
    const pieces = [...flags.data.map(curlDataPiece), ...flags.dataRaw];
    return { kind: "data", text: pieces.join("&") };
  }
  if (flags.form.length > 0) return { kind: "multipart", parts: flags.form.map(curlFormPart) };
  if (dataItems.length === 0) return { kind: "none" };

  const multipart = flags.multipart || dataItems.some((i) => i.kind === "file");
  if (multipart) {
    const parts: MultipartPart[] = [];
    for (const i of dataItems) {
      if (i.kind === "file")
        parts.push(i.type ? { name: i.name, path: i.path, type: i.type } : { name: i.name, path: i.path });
      else if (i.kind === "field") parts.push({ name: i.name, value: i.value });
      else if (i.kind === "fieldFile") parts.push({ name: i.name, value: readText(i.path) });
      else throw new UsageError(`JSON field ${JSON.stringify(itemName(i))} cannot go in a multipart body`);
    }
    return { kind: "multipart", parts };
  }
  if (flags.urlencoded) {
    const pairs: Array<[string, string]> = [];
    for (const i of dataItems) {
      if (i.kind === "field") pairs.push([i.name, i.value]);
      else if (i.kind === "fieldFile") pairs.push([i.name, readText(i.path)]);
      else throw new UsageError(`JSON field ${JSON.stringify(itemName(i))} cannot go in a urlencoded form`);
    }
    return { kind: "urlencoded", pairs };
  }
  const value: Record<string, unknown> = {};
  for (const i of dataItems) {
    if (i.kind === "field") value[i.name] = i.value;
    else if (i.kind === "fieldFile") value[i.name] = readText(i.path);
    else if (i.kind === "json") value[i.name] = parseJSON(i.text, i.name);
    else if (i.kind === "jsonFile") value[i.name] = parseJSON(readText(i.path), i.name);
  }
  return { kind: "json", value };
}

function itemName(i: Item): string {
  return "name" in i ? i.name : "";
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new UsageError(
      `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function parseJSON(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`field ${JSON.stringify(name)} is not valid JSON: ${(err as Error).message}`);
  }
}

/** curl's -d: `@file` is the file's content with carriage returns and newlines removed. */
function curlDataPiece(value: string): string {
  if (!value.startsWith("@")) return value;
  return readText(value.slice(1)).replace(/[\r\n]/g, "");
}

function curlDataBinary(value: string): string {
  return value.startsWith("@") ? readText(value.slice(1)) : value;
}

/** curl's -F: `name=value`, `name=@path[;type=mime]`, `name=<path` (the file's text as the value). */
function curlFormPart(spec: string): MultipartPart {
  const eq = spec.indexOf("=");
  if (eq <= 0) throw new UsageError(`-F wants name=value or name=@file, got ${JSON.stringify(spec)}`);
  const name = spec.slice(0, eq);
  const value = spec.slice(eq + 1);
  if (value.startsWith("@")) {
    const m = /^@(.*?)(?:;type=([^;]+))?$/.exec(value)!;
    return m[2] ? { name, path: m[1]!, type: m[2] } : { name, path: m[1]! };
  }
  if (value.startsWith("<")) return { name, value: readText(value.slice(1)) };
  return { name, value };
}
