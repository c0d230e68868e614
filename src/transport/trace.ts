/**
 * ClientTrace: Go's httptrace hooks, fired at the same moments and in the same order.
 * A request without a trace pays one `undefined` check per moment, nothing more.
 */
import type { Headers } from "../http1/headers.js";

export interface ClientTrace {
  /** Before a connection is looked for; hostPort is the pool key's "host:port". */
  getConn?(hostPort: string): void;
  /** A connection was obtained (once per attempt, retries included). */
  gotConn?(info: { reused: boolean; wasIdle: boolean; idleTime: number }): void;
  /**
   * After the response has fully arrived, once the pool has decided: null when the
   * connection went idle or straight to a waiting request; else an Error saying why it
   * was closed instead (the exchange left it unusable — Connection: close, keep-alives
   * disabled, bytes after the response, ... — or the pool refused it: too many idle for
   * the host, closeIdleConnections(), the transport closed). HTTP/1.1 only, as in Go.
   */
  putIdleConn?(err: Error | null): void;
  dnsStart?(info: { host: string }): void;
  /** coalesced: the answer was shared with a lookup of the same name in flight (Go's DNSDoneInfo.Coalesced). */
  dnsDone?(info: { addresses: string[]; err?: Error; coalesced: boolean }): void;
  /** Once per address tried (Happy Eyeballs may try several, two at a time), as in Go. */
  connectStart?(network: string, addr: string): void;
  connectDone?(network: string, addr: string, err?: Error): void;
  tlsHandshakeStart?(): void;
  tlsHandshakeDone?(info: { alpnProtocol?: string; err?: Error }): void;
  wroteHeaderField?(key: string, values: string[]): void;
  wroteHeaders?(): void;
  wait100Continue?(): void;
  got100Continue?(): void;
  got1xxResponse?(code: number, headers: Headers): void;
  gotFirstResponseByte?(): void;
  wroteRequest?(info: { err?: Error }): void;
}
