/**
 * Proxies: which proxy a request goes through (Go's httpproxy rules for "env"), and the
 * two tunnel handshakes — HTTP CONNECT (RFC 9110 §9.3.6) and SOCKS5 (RFC 1928, with
 * RFC 1929 username/password). Handshakes run over any Duplex and leave it positioned at
 * the first tunnelled byte; they never write caller input unvalidated.
 */
import { isIP } from "node:net";
import type { Duplex } from "node:stream";
import { RoundtripError, redactURL } from "../errors.js";
import { isFieldValue, isToken } from "../http1/chars.js";
import { authorityForm } from "../http1/url.js";

export type ProxyOption = "env" | null | string | URL | ((url: URL) => URL | string | null);

const SCHEMES = new Set(["http:", "https:", "socks5:", "socks5h:"]);

/** The proxy for `url`, or null for a direct connection. */
export function proxyFor(option: ProxyOption, url: URL, env: NodeJS.ProcessEnv = process.env): URL | null {
  if (option === null) return null;
  let chosen: URL | string | null;
  if (option === "env") chosen = proxyFromEnv(url, env);
  else if (typeof option === "function") chosen = option(url);
  else chosen = option;
  if (chosen === null || chosen === "") return null;
  return parseProxyURL(chosen);
}

export function parseProxyURL(input: URL | string): URL {
  let u: URL;
  try {
    // Go accepts "host:port" and reads it as http://host:port.
    u =
      input instanceof URL
        ? input
        : new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `http://${input}`);
  } catch (cause) {
    throw new RoundtripError("ERR_PROXY", `invalid proxy URL ${JSON.stringify(redactURL(String(input)))}`, {
      cause,
    });
  }
  if (!SCHEMES.has(u.protocol)) {
    throw new RoundtripError(
      "ERR_PROXY",
      `unsupported proxy scheme ${u.protocol} (http, https, socks5, socks5h)`,
    );
  }
  if (u.hostname === "") throw new RoundtripError("ERR_PROXY", "proxy URL has no host");
  return u;
}

/**
 * Go's httpproxy.FromEnvironment: HTTP_PROXY / HTTPS_PROXY / NO_PROXY, upper case first.
 *
 * httpoxy (CVE-2016-5385 and siblings): a CGI program (REQUEST_METHOD is set) receives the
 * request's `Proxy:` header as HTTP_PROXY, so that variable may be the attacker's. As Go
 * does (golang.org/s/cgihttpproxy), an http:// request that HTTP_PROXY (or http_proxy)
 * would send through a proxy is then refused with ERR_PROXY rather than sent to it or
 * silently sent direct; before NO_PROXY is looked at, as in Go. HTTPS_PROXY is not
 * affected (no request header becomes it).
 */
export function proxyFromEnv(url: URL, env: NodeJS.ProcessEnv): string | null {
  const get = (name: string) => env[name] || env[name.toLowerCase()] || "";
  const proxy =
    url.protocol === "https:" ? get("HTTPS_PROXY") : url.protocol === "http:" ? get("HTTP_PROXY") : "";
  if (proxy === "") return null;
  if (url.protocol === "http:" && env.REQUEST_METHOD) {
    throw new RoundtripError(
      "ERR_PROXY",
      "refusing to use HTTP_PROXY in a CGI environment (REQUEST_METHOD is set): a client may have set it with a Proxy header (httpoxy; see golang.org/s/cgihttpproxy); pass the proxy option explicitly",
    );
  }
  if (!useProxy(url, get("NO_PROXY"))) return null;
  return proxy;
}

/** The proxy variables as they are now (Go reads them once, too), and whether this is CGI. */
export function snapshotProxyEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]) {
    const v = env[name] || env[name.toLowerCase()];
    if (v) out[name] = v;
  }
  if (env.REQUEST_METHOD) out.REQUEST_METHOD = env.REQUEST_METHOD;
  return out;
}

/**
 * NO_PROXY matching as Go does; loopback and "localhost" are never proxied. Names are
 * compared as the names they denote: a trailing dot (the root of a fully qualified name,
 * `example.com.` or `localhost.`) is dropped on both sides, and an IPv4-mapped IPv6
 * address (`[::ffff:127.0.0.1]`) is its IPv4 address (Go's net.IP compares them so).
 */
export function useProxy(url: URL, noProxy: string): boolean {
  const host = canonicalHost(url.hostname);
  if (host === "localhost" || host.endsWith(".localhost") || isLoopback(host)) return false;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  for (const raw of noProxy.split(/[,\s]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return false;
    if (entry.includes("/")) {
      if (isIP(host) !== 0 && inCIDR(host, entry)) return false;
      continue;
    }
    let entryPort = "";
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m) {
      entry = m[1]!;
      entryPort = m[2]!;
    }
    entry = canonicalHost(entry);
    if (entryPort !== "" && entryPort !== port) continue;
    if (isIP(entry) !== 0) {
      if (entry === host) return false;
      continue;
    }
    if (entry.startsWith("*.")) entry = entry.slice(1);
    if (entry.startsWith(".")) {
      if (host.endsWith(entry) || host === entry.slice(1)) return false;
    } else if (host === entry || host.endsWith("." + entry)) {
      return false;
    }
  }
  return true;
}

/**
 * A host as NO_PROXY compares it: lower case, without IPv6 brackets or one trailing dot;
 * an IPv6 address in one canonical spelling, and an IPv4-mapped one as its IPv4 address.
 */
function canonicalHost(raw: string): string {
  let host = raw.toLowerCase().replace(/^\[|\]$/g, "");
  if (host.endsWith(".") && host.length > 1) host = host.slice(0, -1);
  if (isIP(host) !== 6) return host;
  const bytes = ipv6Bytes(host.replace(/%.*$/, ""));
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // Same spelling for the same address: ::1, 0:0::1 and 0000::0001 all become 0:0:0:0:0:0:0:1.
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(":");
}

/** `host` as canonicalHost leaves it. */
function isLoopback(host: string): boolean {
  if (host === "0:0:0:0:0:0:0:1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

function inCIDR(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  if (isIP(ip) !== 4 || isIP(net ?? "") !== 4 || !(bits >= 0 && bits <= 32)) return false;
  const toInt = (s: string) => s.split(".").reduce((a, b) => (a << 8) + Number(b), 0) >>> 0;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (toInt(ip) & mask) === (toInt(net!) & mask);
}

/** `Basic …` credentials from a proxy URL's userinfo, or null. */
export function proxyAuthorization(proxy: URL): string | null {
  if (proxy.username === "" && proxy.password === "") return null;
  return (
    "Basic " +
    Buffer.from(`${decodeUserinfo(proxy.username)}:${decodeUserinfo(proxy.password)}`, "utf8").toString(
      "base64",
    )
  );
}

/** Percent-decodes a proxy URL's user or password; a malformed escape is ERR_PROXY, never a URIError. */
function decodeUserinfo(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch (cause) {
    throw new RoundtripError("ERR_PROXY", "proxy URL credentials hold a malformed %-escape", { cause });
  }
}

/** Reads from `socket` until `done(buffered)` returns the number of bytes it used, or -1 for more. */
function readUntil(
  socket: Duplex,
  done: (buf: Buffer) => number,
  signal: AbortSignal,
  what: string,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const cleanup = () => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      socket.off("error", onError);
      signal.removeEventListener("abort", onAbort);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let used: number;
      try {
        used = done(buf);
      } catch (err) {
        cleanup();
        reject(err);
        return;
      }
      if (used < 0) return;
      cleanup();
      socket.pause();
      // Bytes after the handshake belong to the tunnel.
      if (used < buf.length) socket.unshift(buf.subarray(used));
      resolve(buf.subarray(0, used));
    };
    const onEnd = () => {
      cleanup();
      reject(new RoundtripError("ERR_PROXY", `proxy closed the connection during ${what}`));
    };
    const onError = (cause: Error) => {
      cleanup();
      reject(new RoundtripError("ERR_PROXY", `proxy connection failed during ${what}`, { cause }));
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason);
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.once("error", onError);
    signal.addEventListener("abort", onAbort, { once: true });
    socket.resume();
  });
}

const MAX_CONNECT_HEAD = 64 * 1024;

/** HTTP CONNECT: asks the proxy for a tunnel to host:port; resolves when it answered 2xx. */
export async function connectTunnel(
  socket: Duplex,
  host: string,
  port: number,
  proxy: URL,
  headers: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  const authority = authorityForm(host, port);
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  const auth = proxyAuthorization(proxy);
  if (auth !== null) head += `Proxy-Authorization: ${auth}\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (typeof v !== "string" || !isToken(k) || !isFieldValue(v))
      throw new RoundtripError(
        "ERR_INVALID_REQUEST",
        `invalid proxyConnectHeaders entry ${JSON.stringify(k)}`,
      );
    head += `${k}: ${v}\r\n`;
  }
  socket.write(head + "\r\n", "latin1");
  const reply = await readUntil(
    socket,
    (buf) => {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buf.length > MAX_CONNECT_HEAD)
          throw new RoundtripError("ERR_PROXY", "proxy's CONNECT response head is too large");
        return -1;
      }
      return end + 4;
    },
    signal,
    "CONNECT",
  );
  const statusLine = reply.toString("latin1", 0, reply.indexOf("\r\n"));
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (m === null)
    throw new RoundtripError(
      "ERR_PROXY",
      `malformed CONNECT response from proxy: ${JSON.stringify(statusLine.slice(0, 80))}`,
    );
  const status = Number(m[1]);
  if (status < 200 || status > 299) {
    throw new RoundtripError(
      "ERR_PROXY",
      `proxy refused CONNECT to ${authority}: ${status}${m[2] ? ` ${m[2]}` : ""}`,
    );
  }
}

const SOCKS_ERRORS: Record<number, string> = {
  1: "general SOCKS server failure",
  2: "connection not allowed by ruleset",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/**
 * SOCKS5 CONNECT. With socks5h:// (or a name the caller did not resolve) the proxy
 * resolves the name; with socks5:// and an IP literal the address goes as is. Go's
 * socks5 dialer sends names as names too, and so do we: resolving locally would leak
 * DNS around the proxy.
 */
export async function socks5Tunnel(
  socket: Duplex,
  host: string,
  port: number,
  proxy: URL,
  signal: AbortSignal,
): Promise<void> {
  const user = decodeUserinfo(proxy.username);
  const pass = decodeUserinfo(proxy.password);
  const withAuth = user !== "" || pass !== "";
  socket.write(Buffer.from(withAuth ? [5, 2, 0, 2] : [5, 1, 0]));
  const greeting = await readUntil(socket, (b) => (b.length >= 2 ? 2 : -1), signal, "the SOCKS5 greeting");
  if (greeting[0] !== 5) throw new RoundtripError("ERR_PROXY", "proxy is not a SOCKS5 server");
  const method = greeting[1];
  if (method === 2) {
    if (!withAuth) throw new RoundtripError("ERR_PROXY", "SOCKS5 proxy asks for a username and password");
    const u = Buffer.from(user, "utf8");
    const p = Buffer.from(pass, "utf8");
    if (u.length > 255 || p.length > 255)
      throw new RoundtripError("ERR_PROXY", "SOCKS5 username or password longer than 255 bytes");
    socket.write(Buffer.concat([Buffer.from([1, u.length]), u, Buffer.from([p.length]), p]));
    const r = await readUntil(socket, (b) => (b.length >= 2 ? 2 : -1), signal, "SOCKS5 authentication");
    if (r[1] !== 0) throw new RoundtripError("ERR_PROXY", "SOCKS5 proxy refused the username and password");
  } else if (method !== 0) {
    throw new RoundtripError("ERR_PROXY", "SOCKS5 proxy accepts none of our authentication methods");
  }
  const bare = host.replace(/%.*$/, "");
  let addr: Buffer;
  if (isIP(bare) === 4) addr = Buffer.from([1, ...bare.split(".").map(Number)]);
  else if (isIP(bare) === 6) addr = Buffer.concat([Buffer.from([4]), ipv6Bytes(bare)]);
  else {
    const name = Buffer.from(bare, "utf8");
    if (name.length > 255) throw new RoundtripError("ERR_PROXY", "host name too long for SOCKS5");
    addr = Buffer.concat([Buffer.from([3, name.length]), name]);
  }
  const portBytes = Buffer.from([port >> 8, port & 0xff]);
  socket.write(Buffer.concat([Buffer.from([5, 1, 0]), addr, portBytes]));
  const reply = await readUntil(
    socket,
    (b) => {
      if (b.length < 5) return -1;
      const atyp = b[3];
      const len = atyp === 1 ? 4 : atyp === 4 ? 16 : atyp === 3 ? 1 + b[4]! : -1;
      if (len < 0) throw new RoundtripError("ERR_PROXY", "malformed SOCKS5 reply");
      return b.length >= 4 + len + 2 ? 4 + len + 2 : -1;
    },
    signal,
    "SOCKS5 CONNECT",
  );
  if (reply[0] !== 5) throw new RoundtripError("ERR_PROXY", "malformed SOCKS5 reply");
  if (reply[1] !== 0) {
    throw new RoundtripError(
      "ERR_PROXY",
      `SOCKS5 proxy could not connect to ${host}:${port}: ${SOCKS_ERRORS[reply[1]!] ?? `code ${reply[1]}`}`,
    );
  }
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail] = ip.split("::") as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(":").filter((x) => x !== "") : []);
  let h = parse(head);
  let t = parse(tail);
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const fix = (groups: string[]) => {
    const last = groups[groups.length - 1];
    if (last?.includes(".")) {
      const p = last.split(".").map(Number);
      groups.splice(-1, 1, ((p[0]! << 8) | p[1]!).toString(16), ((p[2]! << 8) | p[3]!).toString(16));
    }
    return groups;
  };
  h = fix(h);
  t = fix(t);
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill("0");
  const groups = [...h, ...fill, ...t];
  const out = Buffer.alloc(16);
  for (let i = 0; i < groups.length; i++) out.writeUInt16BE(Number.parseInt(groups[i]!, 16), i * 2);
  return out;
}
