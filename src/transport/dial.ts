/**
 * Opening connections: TCP (or the caller's `dial`), then TLS for https, each bounded
 * by its own timeout, with the trace hooks of Go's httptrace. A dial is not tied to the
 * request that started it (Go's late binding): only its timeouts and transport.close()
 * stop it, so a connection nobody waits for anymore still goes to the idle pool.
 */
import type { LookupAddress } from "node:dns";
import { isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { RoundtripError } from "../errors.js";
import type { Resolver } from "./dns-cache.js";
import { type ConnectFunc, dialParallel, hostPort, tcpAttempt } from "./happy-eyeballs.js";
import { connectTunnel, socks5Tunnel } from "./proxy.js";
import type { ClientTrace } from "./trace.js";

export interface DialOptions {
  host: string;
  port: number;
  /** Aborted when dialTimeout passes or the transport closes. */
  signal: AbortSignal;
}

/** Replaces TCP dialing; roundtrip still adds TLS on top for https. */
export type DialFunc = (opts: DialOptions) => Promise<Duplex>;

export interface DialSettings {
  dial: DialFunc | undefined;
  dialTimeout: number;
  tlsHandshakeTimeout: number;
  tls: ConnectionOptions;
  /** Happy Eyeballs: ms before the other address family is tried; 0 = 300; negative = serial. */
  fallbackDelay: number;
  /** Names to addresses: the lookup, coalesced, cached if dnsCache. Owned by the Transport. */
  resolver: Resolver;
  /** Tests only: replaces the TCP connect of one attempt (happy-eyeballs.ts). */
  connect?: ConnectFunc;
  /** ALPN protocols offered to the origin: ["http/1.1"], or ["h2", "http/1.1"] with allowHTTP2. */
  alpn: string[];
}

export interface DialTarget {
  scheme: string;
  hostname: string;
  port: number;
}

export interface DialResult {
  socket: Duplex;
  dnsDone: number;
  connectDone: number;
  tlsDone: number;
}

/** A proxy between us and the target; see proxy.ts. */
export interface ProxyRoute {
  proxy: URL;
  /** Extra headers for the CONNECT request (proxyConnectHeaders). */
  connectHeaders: Record<string, string>;
}

const PROXY_PORTS: Record<string, number> = { "http:": 80, "https:": 443, "socks5:": 1080, "socks5h:": 1080 };

export async function dial(
  target: DialTarget,
  settings: DialSettings,
  trace: ClientTrace | null,
  closing: AbortSignal,
  t0: number,
  route: ProxyRoute | null = null,
): Promise<DialResult> {
  const result: DialResult = { socket: null as unknown as Duplex, dnsDone: -1, connectDone: -1, tlsDone: -1 };
  // A ref'd timer, not AbortSignal.timeout (unref'd): a pending dial keeps the process
  // alive until it connects or its deadline fails it, like any other pending request.
  // Through a proxy it also bounds the tunnel handshake.
  let deadline: NodeJS.Timeout | null = null;
  let dialSignal = closing;
  if (settings.dialTimeout > 0) {
    const timeout = new AbortController();
    deadline = setTimeout(
      () => timeout.abort(new DOMException("dial timed out", "TimeoutError")),
      settings.dialTimeout,
    );
    dialSignal = AbortSignal.any([closing, timeout.signal]);
  }
  let socket: Duplex;
  try {
    if (route === null) {
      socket = await connectWithin(target, settings, trace, closing, t0, result, dialSignal);
    } else {
      socket = await throughProxy(target, route, settings, trace, closing, t0, result, dialSignal);
    }
  } catch (err) {
    throw toTimeout(err, dialSignal, settings.dialTimeout);
  } finally {
    if (deadline !== null) clearTimeout(deadline);
  }
  if (target.scheme !== "https") {
    result.socket = socket;
    return result;
  }
  result.socket = await tlsHandshake(socket, target, settings, closing, trace, settings.alpn);
  result.tlsDone = performance.now() - t0;
  return result;
}

/**
 * Reaches `target` through a proxy: connect to the proxy (TLS to it for https://
 * proxies), then a SOCKS5 tunnel, or an HTTP CONNECT tunnel for https targets. A plain
 * http target through an HTTP proxy needs no tunnel: its requests go in absolute form.
 */
async function throughProxy(
  target: DialTarget,
  route: ProxyRoute,
  settings: DialSettings,
  trace: ClientTrace | null,
  closing: AbortSignal,
  t0: number,
  result: DialResult,
  signal: AbortSignal,
): Promise<Duplex> {
  const p = route.proxy;
  const hop: DialTarget = {
    scheme: p.protocol === "https:" ? "https" : "http",
    hostname: p.hostname.replace(/^\[|\]$/g, ""),
    port: p.port === "" ? PROXY_PORTS[p.protocol]! : Number(p.port),
  };
  let socket: Duplex;
  try {
    socket = await connectWithin(hop, settings, trace, closing, t0, result, signal);
  } catch (err) {
    if (err instanceof RoundtripError && err.code === "ERR_CONNECT") {
      throw new RoundtripError(
        "ERR_CONNECT",
        `cannot connect to proxy ${hop.hostname}:${hop.port}: ${err.message}`,
        {
          cause: err.cause ?? err,
        },
      );
    }
    throw err;
  }
  try {
    // The hop to an https proxy speaks HTTP/1.1 (CONNECT), whatever the origin may speak.
    if (hop.scheme === "https") socket = await tlsHandshake(socket, hop, settings, closing, trace, HTTP1);
    if (p.protocol === "socks5:" || p.protocol === "socks5h:") {
      await socks5Tunnel(socket, target.hostname, target.port, p, signal);
    } else if (target.scheme === "https") {
      await connectTunnel(socket, target.hostname, target.port, p, route.connectHeaders, signal);
    }
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

function toTimeout(err: unknown, signal: AbortSignal, ms: number): unknown {
  if (
    (err as Error | undefined)?.name === "TimeoutError" ||
    (signal.aborted && (signal.reason as Error)?.name === "TimeoutError" && !(err instanceof RoundtripError))
  ) {
    return new RoundtripError("ERR_TIMEOUT", `dial timed out after ${ms} ms`, { phase: "dial", cause: err });
  }
  return err;
}

/** The transport-level connection (TCP or the caller's dial), bounded by `dialSignal`. */
async function connectWithin(
  target: DialTarget,
  settings: DialSettings,
  trace: ClientTrace | null,
  closing: AbortSignal,
  t0: number,
  result: DialResult,
  dialSignal: AbortSignal,
): Promise<Duplex> {
  if (settings.dial === undefined)
    return tcpConnect(target, settings, dialSignal, closing, trace, result, t0);
  const addr = `${target.hostname}:${target.port}`;
  trace?.connectStart?.("tcp", addr);
  let socket: Duplex;
  try {
    socket = await raceSignal(
      settings.dial({ host: target.hostname, port: target.port, signal: dialSignal }),
      dialSignal,
      settings.dialTimeout,
    );
  } catch (err) {
    const e = dialError(err, target, closing);
    trace?.connectDone?.("tcp", addr, e);
    throw e;
  }
  result.connectDone = performance.now() - t0;
  trace?.connectDone?.("tcp", addr);
  return socket;
}

/**
 * TCP to the target: its addresses (an IP literal is its own; a name goes through the
 * Transport's resolver, with the DNS hooks), then Happy Eyeballs over them.
 */
async function tcpConnect(
  target: DialTarget,
  settings: DialSettings,
  signal: AbortSignal,
  closing: AbortSignal,
  trace: ClientTrace | null,
  result: DialResult,
  t0: number,
): Promise<Socket> {
  const deadline =
    settings.dialTimeout > 0 ? performance.now() + settings.dialTimeout : Number.POSITIVE_INFINITY;
  const family = isIP(target.hostname.replace(/%.*$/, ""));
  // IP literals are dialed as they are (no DNS hooks, as in Go).
  const addrs =
    family !== 0
      ? [{ address: target.hostname, family }]
      : await resolveName(target, settings, signal, closing, trace, result, t0);
  const socket = await dialParallel(addrs, {
    port: target.port,
    fallbackDelay: settings.fallbackDelay,
    deadline,
    signal,
    trace,
    connect: settings.connect ?? tcpAttempt,
    toError: (cause, addr) => attemptError(cause, addr, target, settings, signal, closing),
  });
  result.connectDone = performance.now() - t0;
  socket.setKeepAlive(true, 30_000);
  return socket;
}

/** The name's addresses, with dnsStart/dnsDone (Go's order: before any connectStart). */
async function resolveName(
  target: DialTarget,
  settings: DialSettings,
  signal: AbortSignal,
  closing: AbortSignal,
  trace: ClientTrace | null,
  result: DialResult,
  t0: number,
): Promise<LookupAddress[]> {
  trace?.dnsStart?.({ host: target.hostname });
  try {
    // The lookup goes on for others who share it (coalesced); this dial stops waiting.
    const r = await raceSignal(settings.resolver.resolve(target.hostname), signal, settings.dialTimeout);
    trace?.dnsDone?.({ addresses: r.addresses.map((a) => a.address), coalesced: r.coalesced });
    return r.addresses;
  } catch (err) {
    trace?.dnsDone?.({ addresses: [], err: err as Error, coalesced: false });
    throw dialError(err, target, closing);
  } finally {
    result.dnsDone = performance.now() - t0;
  }
}

/** What one connect attempt failed with, as trace.connectDone and the caller see it. */
function attemptError(
  cause: unknown,
  addr: string,
  target: DialTarget,
  settings: DialSettings,
  dialSignal: AbortSignal,
  closing: AbortSignal,
): RoundtripError {
  if (cause instanceof RoundtripError) return cause;
  if (closing.aborted)
    return new RoundtripError("ERR_TRANSPORT_CLOSED", "transport closed while dialing", { cause });
  const name = (cause as Error | undefined)?.name;
  if (name === "TimeoutError") {
    const msg = dialSignal.aborted
      ? `dial ${addr} timed out after ${settings.dialTimeout} ms`
      : `connect to ${addr} timed out (its share of dialTimeout; trying the next address)`;
    return new RoundtripError("ERR_TIMEOUT", msg, { phase: "dial", cause });
  }
  if (name === "AbortError")
    return new RoundtripError("ERR_CONNECT", `connect to ${addr} abandoned: ${(cause as Error).message}`, {
      cause,
    });
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const where = addr === hostPort(target.hostname, target.port) ? "" : `${addr}${code ? ": " : ""}`;
  const detail = where === "" && !code ? "" : ` (${where}${code ?? ""})`;
  return new RoundtripError("ERR_CONNECT", `cannot connect to ${target.hostname}:${target.port}${detail}`, {
    cause,
  });
}

const HTTP1 = ["http/1.1"];

function tlsHandshake(
  raw: Duplex,
  target: DialTarget,
  settings: DialSettings,
  closing: AbortSignal,
  trace: ClientTrace | null,
  alpn: string[],
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    trace?.tlsHandshakeStart?.();
    const name = target.hostname;
    const socket = tlsConnect({
      ALPNProtocols: alpn,
      ...settings.tls,
      socket: raw,
      ...(isIP(name) === 0 ? { servername: name } : {}),
    });
    let timer: NodeJS.Timeout | null = null;
    const done = (err: RoundtripError | null) => {
      if (timer !== null) clearTimeout(timer);
      closing.removeEventListener("abort", onClose);
      socket.off("secureConnect", onSecure);
      socket.off("error", onError);
      if (err !== null) {
        socket.destroy();
        raw.destroy();
        trace?.tlsHandshakeDone?.({ err });
        reject(err);
      } else {
        trace?.tlsHandshakeDone?.(socket.alpnProtocol ? { alpnProtocol: socket.alpnProtocol } : {});
        resolve(socket);
      }
    };
    const onSecure = () => done(null);
    const onError = (cause: Error) =>
      done(new RoundtripError("ERR_TLS", `TLS handshake with ${name} failed: ${cause.message}`, { cause }));
    const onClose = () =>
      done(new RoundtripError("ERR_TRANSPORT_CLOSED", "transport closed during the TLS handshake"));
    socket.once("secureConnect", onSecure);
    socket.once("error", onError);
    closing.addEventListener("abort", onClose, { once: true });
    if (settings.tlsHandshakeTimeout > 0) {
      timer = setTimeout(
        () =>
          done(
            new RoundtripError(
              "ERR_TIMEOUT",
              `TLS handshake with ${name} timed out after ${settings.tlsHandshakeTimeout} ms`,
              { phase: "tls" },
            ),
          ),
        settings.tlsHandshakeTimeout,
      );
    }
  });
}

function dialError(err: unknown, target: DialTarget, closing: AbortSignal): RoundtripError {
  if (err instanceof RoundtripError) return err;
  if (closing.aborted)
    return new RoundtripError("ERR_TRANSPORT_CLOSED", "transport closed while dialing", { cause: err });
  const name = (err as Error | undefined)?.name;
  if (name === "TimeoutError") {
    return new RoundtripError("ERR_TIMEOUT", `dial ${target.hostname}:${target.port} timed out`, {
      phase: "dial",
      cause: err,
    });
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return new RoundtripError(
    "ERR_CONNECT",
    `cannot connect to ${target.hostname}:${target.port}${code ? ` (${code})` : ""}`,
    { cause: err },
  );
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal, timeout: number): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      // The caller's dial may still produce a socket; close it when it does.
      p.then(
        (s) => (s as unknown as Duplex).destroy?.(),
        () => {},
      );
      const reason = signal.reason as Error | undefined;
      reject(
        reason?.name === "TimeoutError"
          ? new RoundtripError("ERR_TIMEOUT", `dial timed out after ${timeout} ms`, {
              phase: "dial",
              cause: reason,
            })
          : reason,
      );
    };
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
