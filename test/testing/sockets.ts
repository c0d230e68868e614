/**
 * Counting outgoing connections: every net.Socket#connect (TCP and TLS dials go through
 * it, however the socket was made) and the `net.client.socket` diagnostics channel
 * (net.connect/createConnection). Used to prove that a MockTransport opens nothing.
 */
import assert from "node:assert/strict";
import diagnostics from "node:diagnostics_channel";
import net from "node:net";
import { tcpHandles } from "../helpers.js";

export interface ConnectionCounter {
  /** Connections attempted since the counter was made. */
  readonly count: number;
  restore(): void;
}

export function countConnections(): ConnectionCounter {
  let count = 0;
  const original = net.Socket.prototype.connect;
  // biome-ignore lint/suspicious/noExplicitAny: a spy passes Node's overloaded arguments through.
  net.Socket.prototype.connect = function (this: net.Socket, ...args: any[]) {
    count++;
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    return (original as any).apply(this, args);
  } as typeof original;
  let viaChannel = 0;
  const onSocket = () => {
    viaChannel++;
  };
  diagnostics.subscribe("net.client.socket", onSocket);
  return {
    get count() {
      // net.connect publishes on the channel and then calls connect: the larger of the two.
      return Math.max(count, viaChannel);
    },
    restore() {
      net.Socket.prototype.connect = original;
      diagnostics.unsubscribe("net.client.socket", onSocket);
    },
  };
}

/**
 * For the test `t`: counts connections from now on and, after the test, asserts that
 * none was attempted and that no TCP handle is open beyond those open now.
 */
export function noSockets(t: { after(fn: () => unknown): void }): ConnectionCounter {
  const baseline = tcpHandles();
  const counter = countConnections();
  t.after(() => {
    counter.restore();
    assert.equal(counter.count, 0, "no connection was attempted");
    assert.ok(tcpHandles() <= baseline, `no TCP handle left open (${tcpHandles()} > ${baseline})`);
  });
  return counter;
}
