/**
 * What a finished dial becomes: an HTTP/2 session when the TLS handshake picked "h2"
 * (only offered with allowHTTP2), else an HTTP/1.1 connection. The one place that knows
 * both protocols; the pool sees only PooledConn.
 */
import type { TLSSocket } from "node:tls";
import type { DialResult } from "./dial.js";
import { H1Conn } from "./h1/conn.js";
import { H2Session } from "./h2/session.js";
import type { ConnEvents, ConnFactory, DialTimes, HostPool, PooledConn } from "./pool.js";

export function connFactory(allowHTTP2: boolean): ConnFactory {
  const multiplexed = (dialed: DialResult) =>
    allowHTTP2 && (dialed.socket as Partial<TLSSocket>).alpnProtocol === "h2";
  return {
    multiplexed,
    make(host: HostPool, dialed: DialResult, events: ConnEvents, dialTimes: DialTimes): PooledConn {
      return multiplexed(dialed)
        ? new H2Session(dialed.socket as TLSSocket, host.target.hostPort, events, host.settings, dialTimes)
        : new H1Conn(dialed.socket, host.target.hostPort, events, host.settings, dialTimes);
    },
  };
}
