/**
 * Opening connections: TCP (or the caller's `dial`), then TLS for https, each bounded
 * by its own timeout, with the trace hooks of Go's httptrace. A dial is not tied to the
 * request that started it (Go's late binding): only its timeouts and transport.close()
 * stop it, so a connection nobody waits for anymore still goes to the idle pool.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from "node:dns";
import { isIP, connect as netConnect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from "node:tls";
import { RoundtripError } from "../errors.js";
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
    return tcpConnect(target, settings.dialTimeout, dialSignal, closing, trace, result, t0);
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

function tcpConnect(
  target: DialTarget,
  timeout: number,
  signal: AbortSignal,
  closing: AbortSignal,
  trace: ClientTrace | null,
  result: DialResult,
  t0: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let addr = `${target.hostname}:${target.port}`;
    // connectStart fires once, after DNS for a name (Go's order: DNSStart, DNSDone,
    // ConnectStart with the address dialed, ConnectDone); connectDone only if it did.
    let connecting = false;
    const connectStart = (a: string) => {
      addr = a;
      connecting = true;
      trace?.connectStart?.("tcp", addr);
    };
    const connectDone = (err?: RoundtripError) => {
      if (!connecting) return;
      connecting = false;
      if (err === undefined) trace?.connectDone?.("tcp", addr);
      else trace?.connectDone?.("tcp", addr, err);
    };
    // Names go through our lookup, so timings.dnsDone is filled and the DNS hooks fire;
    // IP literals are dialed as they are (no DNS hooks, as in Go).
    const isName = isIP(target.hostname.replace(/%.*$/, "")) === 0;
    const lookup = isName
      ? (
          hostname: string,
          options: LookupOptions,
          cb: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
        ) => {
          trace?.dnsStart?.({ host: hostname });
          dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
            const list = (addresses ?? []).map((a) => a.address);
            trace?.dnsDone?.(err ? { addresses: list, err } : { addresses: list });
            result.dnsDone = performance.now() - t0;
            if (err || addresses.length === 0) {
              cb(err ?? Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), "");
              return;
            }
            const first = addresses[0]!;
            connectStart(
              first.family === 6 ? `[${first.address}]:${target.port}` : `${first.address}:${target.port}`,
            );
            if (options.all) cb(null, addresses);
            else cb(null, first.address, first.family);
          });
        }
      : undefined;
    if (!isName) connectStart(addr);
    const socket = netConnect({
      host: target.hostname,
      port: target.port,
      noDelay: true,
      ...(lookup ? { lookup } : {}),
    });
    const cleanup = () => {
      signal.removeEventListener("abort", onAbort);
      socket.off("connect", onConnect);
      socket.off("error", onError);
    };
    const onConnect = () => {
      cleanup();
      result.connectDone = performance.now() - t0;
      socket.setKeepAlive(true, 30_000);
      connectDone();
      resolve(socket);
    };
    const onError = (err: Error) => {
      cleanup();
      socket.destroy();
      const e = dialError(err, target, closing);
      connectDone(e);
      reject(e);
    };
    const onAbort = () => {
      cleanup();
      socket.destroy();
      const e = closing.aborted
        ? new RoundtripError("ERR_TRANSPORT_CLOSED", "transport closed while dialing")
        : new RoundtripError("ERR_TIMEOUT", `dial ${addr} timed out after ${timeout} ms`, { phase: "dial" });
      connectDone(e);
      reject(e);
    };
    socket.once("connect", onConnect);
    socket.once("error", onError);
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
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
