/**
 * A RequestPlan's headers and body as the library takes them. The headers are computed
 * here once, for the request sent and for --curl alike: the caller's own, then what the
 * body implies (Content-Type, HTTPie's Accept for JSON data), Basic auth from -u, and
 * the removals (`User-Agent:` sends none).
 */
import { basename } from "node:path";
import { type BodyInit, type FormInit, type FormValue, file, openAsBlob } from "../index.js";
import { contentTypeByExtension } from "../server/index.js";
import type { BodyPlan } from "./body-plan.js";
import type { RequestPlan } from "./request-args.js";

export const JSON_ACCEPT = "application/json, */*;q=0.5";
const FORM_TYPE = "application/x-www-form-urlencoded";

/** Content-Type the body implies (multipart's comes with its boundary, from the library). */
export function impliedContentType(body: BodyPlan): string | null {
  switch (body.kind) {
    case "json":
      return "application/json";
    case "urlencoded":
    case "data":
    case "text":
      // curl sends -d and --data-binary as a form, whatever they hold.
      return FORM_TYPE;
    case "file":
    case "stdin":
      // curl's --data-binary is a form too; xh's @path is typed by its extension.
      if (body.curl) return FORM_TYPE;
      return (body.kind === "file" && contentTypeByExtension(body.path)) || "application/octet-stream";
    default:
      return null;
  }
}

/** Every header the request carries beyond the transport's own (Host, User-Agent, Accept-Encoding…). */
export function planHeaders(plan: RequestPlan): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const given = new Set(plan.headers.map(([k]) => k.toLowerCase()));
  const removed = new Set(plan.removeHeaders);
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    if (!given.has(key) && !removed.has(key)) out.push([name, value]);
  };
  // HTTPie's Accept for JSON data; otherwise */* as curl, xh and HTTPie send.
  add("Accept", plan.body.kind === "json" ? JSON_ACCEPT : "*/*");
  const type = impliedContentType(plan.body);
  if (type !== null) add("Content-Type", type);
  if (plan.auth !== undefined) {
    const token = Buffer.from(`${plan.auth.user}:${plan.auth.password}`, "utf8").toString("base64");
    add("Authorization", `Basic ${token}`);
  }
  out.unshift(...plan.headers);
  // The transport sends its User-Agent unless the request carries an empty one.
  if (removed.has("user-agent") && !given.has("user-agent")) out.push(["User-Agent", ""]);
  return out;
}

/** The body for RequestOptions: `body` (bytes, a file, stdin) or `form` (multipart). */
export async function requestBody(plan: BodyPlan): Promise<{ body?: BodyInit; form?: FormInit }> {
  switch (plan.kind) {
    case "none":
      return {};
    case "json":
      return { body: JSON.stringify(plan.value) };
    case "urlencoded":
      return { body: new URLSearchParams(plan.pairs).toString() };
    case "data":
    case "text":
      return { body: plan.text };
    case "file":
      // Streamed from disk, with sendfile(2) where the connection allows.
      return { body: file(plan.path) };
    case "stdin":
      return { body: process.stdin };
    case "multipart": {
      const form: Record<string, FormValue[]> = {};
      for (const part of plan.parts) {
        let value: FormValue;
        if ("value" in part) value = part.value;
        else if (part.type === undefined) value = file(part.path);
        else {
          // A typed part goes as a named File over the file's Blob: streamed, not sendfile.
          value = new File([await openAsBlob(part.path)], basename(part.path), { type: part.type });
        }
        const list = form[part.name];
        if (list) list.push(value);
        else form[part.name] = [value];
      }
      return { form };
    }
  }
}
