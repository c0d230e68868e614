/**
 * Request matching for MockTransport: each rule of an interceptor (origin, method, path,
 * query, headers, body) compiled once into a check that says why a request fails it,
 * and the ranking that turns those reasons into the ERR_MOCK_NOT_MATCHED message.
 *
 * Every rule takes a string, a RegExp or a predicate. Strings compare exactly (after
 * URL normalization for origins, paths and queries; methods case-insensitively), a
 * RegExp is tested, a predicate returns true to match.
 */
import { isDeepStrictEqual } from "node:util";
import { RoundtripError } from "../errors.js";
import type { Headers } from "../http1/headers.js";

/** What an interceptor is matched against: one request as the mock received it. */
export interface MockCall {
  method: string;
  /** The absolute URL (origin, path, query), as sent. */
  url: string;
  /** The request's fields as the caller and the Client set them (Content-Type from the body included). */
  headers: Headers;
  /** The whole request body (empty when none). */
  body: Uint8Array;
}

export type Matcher<T> = string | RegExp | ((value: T) => boolean);

export type QueryValue = string | number | boolean | ReadonlyArray<string | number | boolean>;

export interface InterceptSpec {
  /** "http://api.test" (scheme, host, port); default: any origin. */
  origin?: Matcher<string>;
  /**
   * A string is the pathname ("/users"), or the pathname and query ("/users?page=2");
   * a string without "?" and no `query` rule matches only requests without a query.
   * A RegExp or predicate is given the pathname and query ("/users?page=2").
   */
  path: Matcher<string>;
  /** Default "GET"; strings compare case-insensitively. */
  method?: Matcher<string>;
  /**
   * Each named field must match (strings compare with the field's combined value; a
   * predicate is given the value, or null when absent), or one predicate over all of them.
   */
  headers?: Record<string, Matcher<string | null>> | ((headers: Headers) => boolean);
  /**
   * The whole query, in any order: a string ("a=1&b=2"), URLSearchParams, a record of
   * values, a RegExp over the query string (without "?"), or a predicate.
   */
  query?:
    | string
    | URLSearchParams
    | Record<string, QueryValue>
    | RegExp
    | ((params: URLSearchParams) => boolean);
  /**
   * The request body: a string or bytes (exact), a RegExp over its text, a plain object
   * or array (equal to the body parsed as JSON), or a predicate given its text and bytes.
   */
  body?: string | Uint8Array | RegExp | object | ((text: string, bytes: Uint8Array) => boolean);
}

/** One compiled rule: null when the request satisfies it, else why not. */
interface Rule {
  name: "origin" | "method" | "path" | "query" | "headers" | "body";
  /** How much a satisfied rule counts when ranking the closest interceptors. */
  weight: number;
  check(req: ParsedCall): string | null;
}

export interface ParsedCall {
  call: MockCall;
  url: URL;
  /** Pathname and query: "/users?page=2". */
  target: string;
  text: string | null;
}

export function parseCall(call: MockCall): ParsedCall {
  const url = new URL(call.url);
  return { call, url, target: url.pathname + url.search, text: null };
}

function textOf(req: ParsedCall): string {
  req.text ??= Buffer.from(req.call.body.buffer, req.call.body.byteOffset, req.call.body.byteLength).toString(
    "utf8",
  );
  return req.text;
}

export class CompiledSpec {
  readonly rules: Rule[] = [];
  /** "GET http://api.test /users" for messages. */
  readonly label: string;

  constructor(spec: InterceptSpec) {
    if (spec === null || typeof spec !== "object") invalid("intercept() needs a spec object with a path");
    if (spec.path === undefined) invalid("intercept() needs a path (a string, RegExp or predicate)");
    const origin = spec.origin;
    if (origin !== undefined) this.rules.push(originRule(origin));
    this.rules.push(methodRule(spec.method ?? "GET"));
    const { rule: pathRule, queryInPath } = pathRuleOf(spec.path);
    this.rules.push(pathRule);
    if (spec.query !== undefined) {
      if (queryInPath) invalid("give the query in path or in query, not both");
      this.rules.push(queryRule(spec.query));
    } else if (typeof spec.path === "string" && !queryInPath) {
      this.rules.push(noQueryRule());
    }
    if (spec.headers !== undefined) this.rules.push(headersRule(spec.headers));
    if (spec.body !== undefined) this.rules.push(bodyRule(spec.body));
    this.label = `${typeof spec.method === "string" ? spec.method.toUpperCase() : show(spec.method ?? "GET")} ${origin === undefined ? "(any origin)" : show(origin, true)} ${show(spec.path)}`;
  }

  /** The reasons `req` fails this spec; empty when it matches. */
  failures(req: ParsedCall): string[] {
    const out: string[] = [];
    for (const rule of this.rules) {
      const why = safeCheck(rule, req);
      if (why !== null) out.push(why);
    }
    return out;
  }

  /** The weight of the rules `req` satisfies, and the reasons for the others. */
  score(req: ParsedCall): { score: number; reasons: string[] } {
    let score = 0;
    const reasons: string[] = [];
    for (const rule of this.rules) {
      const why = safeCheck(rule, req);
      if (why === null) score += rule.weight;
      else reasons.push(why);
    }
    return { score, reasons };
  }
}

function safeCheck(rule: Rule, req: ParsedCall): string | null {
  try {
    return rule.check(req);
  } catch (err) {
    return `${rule.name}: the predicate threw ${err instanceof Error ? err.message : String(err)}`;
  }
}

function invalid(message: string): never {
  throw new RoundtripError("ERR_INVALID_REQUEST", `MockTransport: ${message}`);
}

function isMatcher(m: unknown): m is Matcher<unknown> {
  return typeof m === "string" || m instanceof RegExp || typeof m === "function";
}

function test(m: RegExp | ((v: never) => boolean), value: unknown): boolean {
  if (m instanceof RegExp) {
    m.lastIndex = 0; // a /g or /y RegExp keeps state between tests
    return m.test(String(value));
  }
  return (m as (v: unknown) => boolean)(value) === true;
}

function originRule(m: Matcher<string>): Rule {
  if (!isMatcher(m)) invalid("origin must be a string, RegExp or predicate");
  let want: string | null = null;
  if (typeof m === "string") {
    let u: URL;
    try {
      u = new URL(m);
    } catch {
      invalid(`origin ${JSON.stringify(m)} is not a URL origin ("http://host:port")`);
    }
    if ((u.pathname !== "/" && u.pathname !== "") || u.search !== "" || u.hash !== "")
      invalid(`origin ${JSON.stringify(m)} has a path; put it in path`);
    want = u.origin;
  }
  return {
    name: "origin",
    weight: 8,
    check(req) {
      const got = req.url.origin;
      if (want !== null) return got === want ? null : `origin: expected ${want}, got ${got}`;
      return test(m as RegExp, got) ? null : `origin: ${got} does not match ${show(m)}`;
    },
  };
}

function methodRule(m: Matcher<string>): Rule {
  if (!isMatcher(m)) invalid("method must be a string, RegExp or predicate");
  const want = typeof m === "string" ? m.toUpperCase() : null;
  return {
    name: "method",
    weight: 4,
    check(req) {
      const got = req.call.method;
      if (want !== null) return got.toUpperCase() === want ? null : `method: expected ${want}, got ${got}`;
      return test(m as RegExp, got) ? null : `method: ${got} does not match ${show(m)}`;
    },
  };
}

function pathRuleOf(m: Matcher<string>): { rule: Rule; queryInPath: boolean } {
  if (!isMatcher(m)) invalid("path must be a string, RegExp or predicate");
  if (typeof m !== "string") {
    return {
      queryInPath: false,
      rule: {
        name: "path",
        weight: 8,
        check: (req) => (test(m, req.target) ? null : `path: ${req.target} does not match ${show(m)}`),
      },
    };
  }
  if (!m.startsWith("/")) invalid(`path ${JSON.stringify(m)} must start with "/"`);
  // Normalized as the request's URL is ("/a b" is sent as "/a%20b").
  const parsed = new URL(m, "http://mock.invalid");
  const pathname = parsed.pathname;
  const q = m.includes("?") ? sortedQuery(parsed.searchParams) : null;
  const rule: Rule = {
    name: "path",
    weight: 8,
    check(req) {
      if (req.url.pathname !== pathname) return `path: expected ${pathname}, got ${req.url.pathname}`;
      if (q !== null) {
        const got = sortedQuery(req.url.searchParams);
        if (got !== q) return `query: expected ${q === "" ? "none" : q}, got ${got === "" ? "none" : got}`;
      }
      return null;
    },
  };
  return { rule, queryInPath: q !== null };
}

function noQueryRule(): Rule {
  return {
    name: "query",
    weight: 2,
    check: (req) =>
      req.url.search === ""
        ? null
        : `query: the interceptor expects none, got ${req.url.search.slice(1)} (add query: or put it in path)`,
  };
}

/** Query pairs sorted by name then value: order-insensitive equality. */
function sortedQuery(p: URLSearchParams): string {
  const pairs = [...p];
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return new URLSearchParams(pairs).toString();
}

function queryRule(q: NonNullable<InterceptSpec["query"]>): Rule {
  let want: string | null = null;
  if (typeof q === "string") want = sortedQuery(new URLSearchParams(q.startsWith("?") ? q.slice(1) : q));
  else if (q instanceof URLSearchParams) want = sortedQuery(q);
  else if (!(q instanceof RegExp) && typeof q !== "function") {
    if (typeof q !== "object" || q === null)
      invalid("query must be a string, URLSearchParams, record, RegExp or predicate");
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) {
      if (Array.isArray(v)) for (const item of v) p.append(k, String(item));
      else p.append(k, String(v));
    }
    want = sortedQuery(p);
  }
  return {
    name: "query",
    weight: 2,
    check(req) {
      if (want !== null) {
        const got = sortedQuery(req.url.searchParams);
        return got === want
          ? null
          : `query: expected ${want === "" ? "none" : want}, got ${got === "" ? "none" : got}`;
      }
      if (q instanceof RegExp) {
        const s = req.url.search.slice(1);
        return test(q, s) ? null : `query: ${s === "" ? "(none)" : s} does not match ${show(q)}`;
      }
      return test(q as (p: URLSearchParams) => boolean, new URLSearchParams(req.url.searchParams))
        ? null
        : `query: the predicate returned false for ${req.url.search.slice(1) || "(none)"}`;
    },
  };
}

function headersRule(h: NonNullable<InterceptSpec["headers"]>): Rule {
  if (typeof h === "function") {
    return {
      name: "headers",
      weight: 1,
      check: (req) => (h(req.call.headers) === true ? null : "headers: the predicate returned false"),
    };
  }
  if (typeof h !== "object" || h === null) invalid("headers must be a record of matchers or a predicate");
  const entries = Object.entries(h);
  for (const [name, m] of entries) {
    if (!isMatcher(m)) invalid(`header ${name}: a matcher must be a string, RegExp or predicate`);
  }
  return {
    name: "headers",
    weight: 1,
    check(req) {
      const bad: string[] = [];
      for (const [name, m] of entries) {
        const got = req.call.headers.get(name);
        const ok =
          typeof m === "string"
            ? got === m
            : m instanceof RegExp
              ? got !== null && test(m, got)
              : m(got) === true;
        if (!ok) {
          const shownGot = got === null ? "none" : JSON.stringify(got);
          bad.push(
            typeof m === "string"
              ? `header ${name}: expected ${JSON.stringify(m)}, got ${shownGot}`
              : `header ${name}: ${shownGot} does not match ${show(m)}`,
          );
        }
      }
      return bad.length === 0 ? null : bad.join("; ");
    },
  };
}

function bodyRule(b: NonNullable<InterceptSpec["body"]>): Rule {
  const rule = (check: (req: ParsedCall) => string | null): Rule => ({ name: "body", weight: 1, check });
  if (typeof b === "string") {
    return rule((req) =>
      textOf(req) === b ? null : `body: expected ${preview(b)}, got ${preview(textOf(req))}`,
    );
  }
  if (b instanceof Uint8Array) {
    const want = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return rule((req) => {
      const got = req.call.body;
      return want.equals(got)
        ? null
        : `body: expected ${want.length} bytes ${preview(want.toString("utf8"))}, got ${got.length} bytes ${preview(textOf(req))}`;
    });
  }
  if (b instanceof RegExp) {
    return rule((req) =>
      test(b, textOf(req)) ? null : `body: ${preview(textOf(req))} does not match ${show(b)}`,
    );
  }
  if (typeof b === "function") {
    const fn = b as (text: string, bytes: Uint8Array) => boolean;
    return rule((req) =>
      fn(textOf(req), req.call.body) === true
        ? null
        : `body: the predicate returned false for ${preview(textOf(req))}`,
    );
  }
  if (typeof b !== "object" || b === null)
    invalid("body must be a string, bytes, RegExp, object or predicate");
  const want = JSON.parse(JSON.stringify(b)) as unknown;
  return rule((req) => {
    let got: unknown;
    try {
      got = JSON.parse(textOf(req));
    } catch {
      return `body: expected JSON ${preview(JSON.stringify(want))}, got ${preview(textOf(req))} (not JSON)`;
    }
    return isDeepStrictEqual(got, want)
      ? null
      : `body: expected JSON ${preview(JSON.stringify(want))}, got ${preview(JSON.stringify(got))}`;
  });
}

/** A matcher as it reads in a message. */
export function show(m: unknown, origin = false): string {
  if (typeof m === "string") return origin ? safeOrigin(m) : m;
  if (m instanceof RegExp) return String(m);
  if (typeof m === "function") return m.name ? `[predicate ${m.name}]` : "[predicate]";
  return String(m);
}

function safeOrigin(s: string): string {
  try {
    return new URL(s).origin;
  } catch {
    return s;
  }
}

/** A body or value in a message: quoted, cut at 80 characters. */
export function preview(text: string): string {
  const cut = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return `${JSON.stringify(cut)}${text.length > 80 ? ` (${text.length} chars)` : ""}`;
}

/** One interceptor as the ranking sees it. */
export interface Candidate {
  label: string;
  spec: CompiledSpec;
  /** Why it cannot reply even when every rule matches ("used up: ..."), or null. */
  exhausted: string | null;
}

const SHOWN = 3;

/**
 * The ERR_MOCK_NOT_MATCHED message body: the request, then the closest candidates (most
 * rule weight satisfied first; declaration order breaks ties), each with why it did not match.
 */
export function explainNoMatch(req: ParsedCall, candidates: Candidate[], noun: string): string {
  const head = `no ${noun} matches ${req.call.method} ${req.url.href}`;
  if (candidates.length === 0) return `${head}; no ${noun}s are registered`;
  const ranked = candidates
    .map((c, index) => {
      const { score, reasons } = c.spec.score(req);
      // A full match that is used up is the likeliest mistake: first.
      if (reasons.length === 0 && c.exhausted !== null)
        return { c, index, score: Infinity, reasons: [c.exhausted] };
      return { c, index, score, reasons };
    })
    .sort((a, b) => b.score - a.score || a.index - b.index);
  const lines = ranked.slice(0, SHOWN).map((r, i) => `  ${i + 1}. ${r.c.label} — ${r.reasons.join("; ")}`);
  const more = ranked.length > SHOWN ? `\n  (${ranked.length - SHOWN} more not shown)` : "";
  return `${head}; closest ${noun}s:\n${lines.join("\n")}${more}`;
}
