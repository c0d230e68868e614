/**
 * Sends a byte range of an open file to a socket.
 *
 * CONTRACT (used by the client's file() bodies and by roundtrip-http/server):
 *   sendFileToSocket(socket, fd, offset, length, opts) resolves with the number of bytes
 *   written (always `length` on success) once they have been handed to the kernel, and
 *   rejects if the socket closes, the file is shorter than `length`, or `opts.signal`
 *   aborts (with `signal.reason`). The caller must not write to the socket until it
 *   settles, and keeps ownership of `fd`: it is never closed here.
 *
 * Two paths, chosen per call (docs/zerocopy.md):
 * - sendfile(2) through the native addon (native/sendfile.c): the kernel copies page
 *   cache to socket, in the libuv thread pool, one slice per addon call. Only for a plain (non-TLS) net.Socket with an fd, on Linux.
 * - a portable read/write loop over a few pooled buffers, for everything else.
 *
 * Rejections: `signal.reason` on abort; the socket's own error (code EPIPE, ECONNRESET,
 * ...) when it fails, or code EPIPE when it closed after the peer's FIN; code
 * ERR_SOCKET_CLOSED when it was closed on our side; code ERR_FILE_SHRANK when the file
 * ends early; RangeError for a bad fd, offset or length.
 */
import { existsSync, read } from "node:fs";
import { createRequire } from "node:module";
import { Socket } from "node:net";
import { dirname, join, sep } from "node:path";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { fileURLToPath } from "node:url";

export interface SendFileOptions {
  signal?: AbortSignal | undefined;
  /** Called with the number of bytes the kernel accepted since the previous call. */
  onProgress?: ((sent: number) => void) | undefined;
  /**
   * Use the read/write loop even where sendfile(2) is available. For tests and
   * benchmarks of the portable path; production callers leave it unset.
   */
  forceFallback?: boolean | undefined;
}

export interface ZeroCopyStatus {
  /** True when the native sendfile(2) path is loaded and enabled. */
  readonly available: boolean;
  /** Why it is not available, when it is not. */
  readonly reason?: string;
}

export type SendFilePath = "sendfile" | "fallback";

/** Counters for tests and diagnostics: which path calls took, and why the last fallback. */
export interface SendFileStats {
  readonly sendfile: number;
  readonly fallback: number;
  readonly lastPath: SendFilePath | undefined;
  readonly lastFallbackReason: string | undefined;
}

/** An Error with a stable `code`, the shape Node's own system errors have. */
export interface CodedError extends Error {
  code: string;
}

// ---------------------------------------------------------------------------------------
// Loading the addon

/** Opaque handle from the addon's createCancelToken(): a flag its worker thread polls. */
export interface CancelToken {
  readonly __cancelToken: never;
}

export interface NativeAddon {
  sendfile(
    socketFd: number,
    fileFd: number,
    offset: number,
    length: number,
    token?: CancelToken,
  ): Promise<number>;
  splice(socketFd: number, fileFd: number, length: number, token?: CancelToken): Promise<number>;
  createCancelToken(): CancelToken;
  cancel(token: CancelToken): void;
  setCork(socketFd: number, on: boolean): void;
  getCork(socketFd: number): boolean;
}

/** What the addon rejects with: a system-style error plus what the failing call sent. */
interface NativeError extends Error {
  code?: string;
  bytesSent?: number;
}

const ADDON_PATH = join("native", "build", "Release", "roundtrip_sendfile.node");

/**
 * The package root is 2 levels above this file in dist/body/ and 3 above it in the test
 * build (build/src/body/), so look a few levels up rather than hard-code one layout.
 */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    dir = dirname(dir);
    const candidate = join(dir, ADDON_PATH);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

function loadAddon(): { addon?: NativeAddon; status: ZeroCopyStatus } {
  if (process.env.ROUNDTRIP_NO_ZEROCOPY === "1") {
    return { status: { available: false, reason: "disabled by ROUNDTRIP_NO_ZEROCOPY=1" } };
  }
  if (process.platform !== "linux") {
    return {
      status: { available: false, reason: `sendfile path is Linux-only (this is ${process.platform})` },
    };
  }
  const path = findAddon();
  if (path === undefined) {
    // Built by the package's install script when a C compiler is there: missing after
    // `npm install --ignore-scripts`, or when the install had no compiler.
    const installed = fileURLToPath(import.meta.url)
      .split(sep)
      .includes("node_modules");
    const rebuild = installed
      ? "run `npm rebuild roundtrip-http` in your project"
      : "run `node scripts/build-native.mjs`";
    return {
      status: {
        available: false,
        reason: `native addon not built (it builds at install when a C compiler is present): ${rebuild}`,
      },
    };
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    return { addon, status: { available: true } };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { status: { available: false, reason: `native addon failed to load: ${message}` } };
  }
}

const loaded = loadAddon();
const addon = loaded.addon;
export const zeroCopy: ZeroCopyStatus = Object.freeze(loaded.status);

/** The loaded addon, for splice.ts (the receiving half); undefined when zero copy is off. */
export function zeroCopyAddon(): NativeAddon | undefined {
  return addon;
}

// ---------------------------------------------------------------------------------------
// Choosing a path

let stats: SendFileStats = { sendfile: 0, fallback: 0, lastPath: undefined, lastFallbackReason: undefined };

export function sendFileStats(): SendFileStats {
  return stats;
}

function record(path: SendFilePath, fallbackReason?: string): void {
  stats = {
    sendfile: stats.sendfile + (path === "sendfile" ? 1 : 0),
    fallback: stats.fallback + (path === "fallback" ? 1 : 0),
    lastPath: path,
    lastFallbackReason: path === "fallback" ? fallbackReason : stats.lastFallbackReason,
  };
}

interface SocketInternals {
  _handle?: { fd?: number } | null;
}

function socketFd(socket: Socket): number {
  const fd = (socket as unknown as SocketInternals)._handle?.fd;
  return typeof fd === "number" ? fd : -1;
}

/**
 * Why this socket cannot take the sendfile path, or undefined if it can (once its queued
 * bytes are flushed and its fd exists). Exported for tests and diagnostics.
 */
export function sendfileUnsupportedReason(socket: Duplex): string | undefined {
  if (addon === undefined) return zeroCopy.reason;
  // sendfile writes plaintext straight to the fd; TLS must encrypt every byte in Node.
  const tls = socket instanceof TLSSocket || (socket as { encrypted?: unknown }).encrypted === true;
  if (tls) return "TLS socket";
  if (!(socket instanceof Socket)) return "not a net.Socket";
  if (!socket.writable) return "socket is not writable";
  // Corked bytes wait for uncork(); file bytes sent now would overtake them.
  if (socket.writableCorked > 0) return "socket is corked";
  if (!socket.connecting && socketFd(socket) < 0) return "socket has no file descriptor";
  return undefined;
}

// ---------------------------------------------------------------------------------------
// TCP_CORK (the kernel's, not stream.cork())

/**
 * Sets or clears TCP_CORK on a plain TCP socket: while set, the kernel holds partial
 * segments, so small writes (a response head) leave with the bytes that follow them.
 * Returns whether the option was applied: false without the addon, for TLS or other
 * streams, for a destroyed socket, or when the kernel refused (the socket is going away;
 * the caller needs no error for an optimisation that did not happen).
 */
export function setTcpCork(socket: Duplex, on: boolean): boolean {
  const fd = corkableFd(socket);
  if (fd < 0 || addon === undefined) return false;
  try {
    addon.setCork(fd, on);
    return true;
  } catch {
    return false;
  }
}

/** Whether TCP_CORK is set on the socket; undefined when that cannot be read. For tests. */
export function tcpCorked(socket: Duplex): boolean | undefined {
  const fd = corkableFd(socket);
  if (fd < 0 || addon === undefined) return undefined;
  try {
    return addon.getCork(fd);
  } catch {
    return undefined;
  }
}

/** The socket's fd when TCP_CORK may be touched: a live, plain-TCP net.Socket. */
function corkableFd(socket: Duplex): number {
  if (!(socket instanceof Socket) || socket instanceof TLSSocket || socket.destroyed) return -1;
  // Checked synchronously right before use: a destroyed socket's fd number may already
  // belong to another file.
  return socketFd(socket);
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

function checkRange(fd: number, offset: number, length: number): void {
  if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`fd must be a non-negative integer, got ${fd}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`offset must be >= 0, got ${offset}`);
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`length must be >= 0, got ${length}`);
  if (offset + length > MAX_SAFE) throw new RangeError("offset + length exceeds 2^53 - 1");
}

export async function sendFileToSocket(
  socket: Socket | Duplex,
  fd: number,
  offset: number,
  length: number,
  opts: SendFileOptions = {},
): Promise<number> {
  checkRange(fd, offset, length);
  opts.signal?.throwIfAborted();
  // One cutter for the whole range, also when sendfile hands the rest to the fallback.
  opts = { ...opts, onProgress: cutAtMarks(length, opts.onProgress) };
  const why = opts.forceFallback === true ? "forceFallback option" : sendfileUnsupportedReason(socket);
  if (why !== undefined || addon === undefined || !(socket instanceof Socket)) {
    record("fallback", why);
    return sendWithReadWrite(socket, fd, offset, length, opts);
  }
  return sendWithSendfile(addon, socket, fd, offset, length, opts);
}

// ---------------------------------------------------------------------------------------
// What both paths share: stopping on abort, error or close, and sleeping until woken

function codedError(code: string, message: string, cause?: unknown): CodedError {
  const err = new Error(message, cause === undefined ? undefined : { cause }) as CodedError;
  err.code = code;
  return err;
}

function fileShrank(sent: number, length: number): CodedError {
  return codedError("ERR_FILE_SHRANK", `file shrank: it ended after ${sent} of ${length} bytes`);
}

/**
 * Whether `err` only says that the socket was destroyed under a pending write. libuv
 * cancels such a write with ECANCELED, which Node 22 and later pass to its callback and
 * record as the socket's `errored`; Node 20 gives ERR_STREAM_DESTROYED and records
 * nothing. Both mean "closed on our side", reported as ERR_SOCKET_CLOSED on every Node.
 */
function cancelledByDestroy(err: unknown): boolean {
  return (
    (err as { code?: unknown } | null)?.code === "ECANCELED" &&
    (err as { syscall?: unknown }).syscall === "write"
  );
}

/**
 * Wraps onProgress so that no call spans a multiple of the grain: 64 KiB or 1% of the
 * range, whichever is larger, the step at which the client reports upload progress
 * (docs/client.md). An addon call (up to 4 MiB) or a write (128 KiB) that crosses marks
 * is reported as one call per mark, at once, so a caller that reports when a grain's
 * worth has gone by reports at every mark. Cutting the calls rather than the transfers
 * keeps a transfer's cost as it was: each addon call is a trip through the thread pool,
 * and 64 KiB calls made a 1 MiB send cost 3 to 7 times the CPU. Progress stays timely
 * without them: an addon call returns what it sent after 50 ms (native/sendfile.c).
 */
function cutAtMarks(
  length: number,
  onProgress: ((sent: number) => void) | undefined,
): ((sent: number) => void) | undefined {
  if (onProgress === undefined) return undefined;
  const grain = Math.max(64 * 1024, Math.ceil(length / 100));
  let done = 0;
  return (n) => {
    const end = done + n;
    while (done < end) {
      const mark = Math.min(end, (Math.floor(done / grain) + 1) * grain);
      const piece = mark - done;
      done = mark;
      onProgress(piece);
    }
  };
}

/**
 * Watches the signal and the socket for the whole transfer. The first of abort, socket
 * error or socket close becomes `reason`, runs `onStop` (the sendfile path cancels its
 * worker there) and wakes the sleeping loop. Listeners are removed by dispose().
 */
class Guard {
  stopped = false;
  reason: unknown;
  private wakeup: (() => void) | undefined;

  constructor(
    private readonly socket: Duplex,
    private readonly signal: AbortSignal | undefined,
    private readonly onStop: () => void = () => {},
  ) {
    signal?.addEventListener("abort", this.onAbort);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    if (socket.destroyed) this.onClose();
  }

  private readonly onAbort = (): void => this.stop(this.signal?.reason);
  private readonly onError = (err: unknown): void =>
    cancelledByDestroy(err) ? this.onClose() : this.stop(err);
  private readonly onClose = (): void => {
    const errored = this.socket.errored;
    if (errored && !cancelledByDestroy(errored)) this.stop(errored);
    // A socket that is not half-open ends itself when the peer's FIN arrives; writing on
    // would fail with EPIPE, which is what Node reports for a write after that FIN too.
    else if (this.socket.readableEnded)
      this.stop(codedError("EPIPE", "the peer closed the connection during file send"));
    else this.stop(codedError("ERR_SOCKET_CLOSED", "socket closed during file send"));
  };

  /** The socket is known to be closed although its 'close' event has not come yet. */
  closed(): void {
    this.onClose();
  }

  /** A write callback failed. Cut short by destroy() means closed, not a failure of its own. */
  writeFailed(err: Error): void {
    if (this.socket.destroyed) this.onClose();
    else this.stop(err);
  }

  stop(reason: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    this.reason = reason;
    this.onStop();
    this.wake();
  }

  /** Throws the stop reason; abort wins over a socket failure it caused. */
  check(): void {
    if (this.signal?.aborted) throw this.signal.reason;
    if (this.stopped) throw this.reason;
  }

  /** Resolves at the next wake() or stop(); one sleeper at a time. */
  sleep(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeup = resolve;
    });
  }

  wake(): void {
    const w = this.wakeup;
    this.wakeup = undefined;
    w?.();
  }

  dispose(): void {
    this.signal?.removeEventListener("abort", this.onAbort);
    this.socket.off("error", this.onError);
    this.socket.off("close", this.onClose);
  }
}

// ---------------------------------------------------------------------------------------
// The sendfile(2) path

/** Bytes per addon call at most; onProgress is cut finer (cutAtMarks). Abort is seen within. */
const SLICE = 4 << 20;
/** Addon errors meaning "this fd pair cannot do sendfile" (e.g. a FUSE file): use read/write. */
const UNSUPPORTED = new Set(["EINVAL", "ENOSYS", "EOPNOTSUPP"]);
const EMPTY = Buffer.alloc(0);

async function sendWithSendfile(
  native: NativeAddon,
  socket: Socket,
  fd: number,
  offset: number,
  length: number,
  opts: SendFileOptions,
): Promise<number> {
  const token = native.createCancelToken();
  const guard = new Guard(socket, opts.signal, () => native.cancel(token));
  let sent = 0;
  try {
    await flushQueued(socket, guard);
    const sock = socketFd(socket);
    if (sock < 0) {
      record("fallback", "socket has no file descriptor");
      return await sendWithReadWrite(socket, fd, offset, length, opts);
    }
    record("sendfile");
    while (sent < length) {
      // destroy() closes the fd at once and emits 'close' later; by then the number may
      // name another file, which the addon would dup and write into. So look before every
      // call: a destroyed socket is closed now, whatever its events say.
      if (socket.destroyed || socketFd(socket) !== sock) guard.closed();
      guard.check();
      const n = await native.sendfile(sock, fd, offset + sent, Math.min(SLICE, length - sent), token);
      // n === 0: the socket stayed full and the worker handed its thread back; go again.
      sent += n;
      if (n > 0) opts.onProgress?.(n);
    }
    return sent;
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const e: NativeError = err instanceof Error ? err : new Error(String(err));
    // We cancelled the worker because the socket failed or closed: say that instead. A
    // real errno from the worker (EPIPE, ...) is more precise than the stream's view.
    if (e.code === "ECANCELED" && guard.stopped) throw guard.reason;
    const done = sent + (e.bytesSent ?? 0);
    if (e.code === "ERR_FILE_SHRANK") throw fileShrank(done, length);
    if (e.code !== undefined && UNSUPPORTED.has(e.code)) {
      record("fallback", `sendfile ${e.code}`);
      if (done > 0) opts.onProgress?.(done - sent);
      return done + (await sendWithReadWrite(socket, fd, offset + done, length - done, opts));
    }
    throw err;
  } finally {
    guard.dispose();
  }
}

/**
 * Waits until everything already handed to Node (and a pending connect) has reached the
 * kernel: those bytes must precede the file's. An empty write's callback fires after all
 * earlier writes, and unlike 'drain' it fires even below the high-water mark.
 */
async function flushQueued(socket: Socket, guard: Guard): Promise<void> {
  if (!socket.connecting && socket.writableLength === 0) return;
  let flushed = false;
  socket.write(EMPTY, (err) => {
    flushed = true;
    if (err) guard.writeFailed(err);
    guard.wake();
  });
  while (!flushed) {
    guard.check();
    await guard.sleep();
  }
  guard.check();
}

// ---------------------------------------------------------------------------------------
// The portable path: read into pooled buffers, write with bounded data in flight

/**
 * 3 x 128 KiB: at most 384 KiB is read ahead of the kernel per transfer. On loopback this
 * did as well as larger windows, and fewer, bigger chunks cost fewer syscalls than 64 KiB.
 */
const CHUNK = 128 * 1024;
const MAX_IN_FLIGHT = 3;
/** Buffers kept for reuse across transfers; more are dropped for the GC. */
const POOL_MAX = 16;
const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  // allocUnsafeSlow: a buffer of its own, not a slice of Node's shared 8 KiB slab.
  return pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
}

/** Only called once Node is done with the buffer (its write callback ran). */
function giveBack(buf: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(buf);
}

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

async function sendWithReadWrite(
  socket: Duplex,
  fd: number,
  offset: number,
  length: number,
  opts: SendFileOptions,
): Promise<number> {
  const guard = new Guard(socket, opts.signal);
  let handed = 0; // bytes given to socket.write
  let inFlight = 0; // writes whose callback has not run yet
  const onWritten = (buf: Buffer, n: number) => (err?: Error | null) => {
    inFlight--;
    giveBack(buf);
    if (err) guard.writeFailed(err);
    else if (!guard.stopped) opts.onProgress?.(n);
    guard.wake();
  };
  try {
    while (handed < length) {
      while (inFlight >= MAX_IN_FLIGHT && !guard.stopped) await guard.sleep();
      guard.check();
      const buf = takeBuffer();
      const want = Math.min(CHUNK, length - handed);
      const n = await readAt(fd, buf, want, offset + handed).catch((err: unknown) => {
        giveBack(buf);
        throw err;
      });
      if (n === 0 || guard.stopped) {
        giveBack(buf);
        guard.check();
        throw fileShrank(handed, length);
      }
      inFlight++;
      handed += n;
      socket.write(n === CHUNK ? buf : buf.subarray(0, n), onWritten(buf, n));
    }
    // Resolve only once the kernel has everything, as the sendfile path does.
    while (inFlight > 0 && !guard.stopped) await guard.sleep();
    guard.check();
    return handed;
  } finally {
    guard.dispose();
  }
}
