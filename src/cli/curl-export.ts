/**
 * --curl: the curl command that sends the same request (gout's and xh's export). Headers
 * come from the same planHeaders the request uses, so what curl sends matches: the
 * implied Content-Type and Accept are written out, since curl would not add them.
 */
import type { MultipartPart } from "./body-plan.js";
import type { RequestPlan } from "./request-args.js";
import { planHeaders } from "./request-build.js";

/** POSIX shell quoting: bare when safe, else single quotes. */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function formArg(part: MultipartPart): string[] {
  if ("value" in part) {
    // -F would read a value starting with @ or < as a file; --form-string never does.
    return part.value.startsWith("@") || part.value.startsWith("<")
      ? ["--form-string", `${part.name}=${part.value}`]
      : ["-F", `${part.name}=${part.value}`];
  }
  // roundtrip sends an untyped file part as application/octet-stream; curl would guess.
  return ["-F", `${part.name}=@${part.path};type=${part.type ?? "application/octet-stream"}`];
}

export function toCurl(plan: RequestPlan): string {
  const args: string[] = ["curl"];
  const body = plan.body;
  const hasBody = body.kind !== "none";
  // curl picks GET, POST for a body, HEAD for -I; say the method only when it differs.
  if (plan.method === "HEAD" && !hasBody) args.push("-I");
  else if (plan.method !== (hasBody ? "POST" : "GET")) args.push("-X", plan.method);
  args.push(plan.url.href);

  for (const [k, v] of planHeaders(plan)) {
    // curl sends Accept: */* on its own.
    if (k === "Accept" && v === "*/*") continue;
    args.push("-H", v === "" ? `${k};` : `${k}: ${v}`);
  }
  for (const name of plan.removeHeaders) if (name !== "user-agent") args.push("-H", `${name}:`);

  switch (body.kind) {
    case "json":
      args.push("--data-binary", JSON.stringify(body.value));
      break;
    case "urlencoded":
      for (const [k, v] of body.pairs) args.push("--data-urlencode", `${k}=${v}`);
      break;
    case "data":
      args.push("-d", body.text);
      break;
    case "text":
      args.push("--data-binary", body.text);
      break;
    case "file":
      args.push("--data-binary", `@${body.path}`);
      break;
    case "stdin":
      args.push("--data-binary", "@-");
      break;
    case "multipart":
      for (const p of body.parts) args.push(...formArg(p));
      break;
  }

  const n = plan.net;
  if (n.follow) {
    args.push("-L");
    if (n.maxRedirects !== 50) args.push("--max-redirs", String(n.maxRedirects));
  }
  if (n.insecure) args.push("-k");
  if (n.proxy !== undefined) args.push("-x", n.proxy);
  if (n.connectTimeout !== undefined) args.push("--connect-timeout", String(n.connectTimeout / 1000));
  if (n.maxTime !== undefined) args.push("-m", String(n.maxTime / 1000));
  // roundtrip decodes gzip, deflate and br unless told not to; curl only with --compressed.
  if (n.compressed) args.push("--compressed");
  if (n.family === 4) args.push("-4");
  if (n.family === 6) args.push("-6");
  if (n.unixSocket !== undefined) args.push("--unix-socket", n.unixSocket);
  if (n.cacert !== undefined) args.push("--cacert", n.cacert);
  if (n.http2) args.push("--http2");

  const o = plan.out;
  if (o.output !== undefined) args.push("-o", o.output);
  if (o.verbose) args.push("-v");
  if (o.print.responseHead && plan.method !== "HEAD") args.push("-i");
  if (o.silent) args.push("-s");
  if (o.showError) args.push("-S");
  if (o.writeOut !== undefined) args.push("-w", o.writeOut);
  return args.map(shellQuote).join(" ");
}
