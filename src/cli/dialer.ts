/**
 * The transport's `dial` for the connection flags it has no option for: --unix-socket
 * (every request goes to the socket, the URL still names the Host) and -4 / -6 (resolve
 * to that family only). A custom dial hides DNS from the transport's hooks, so the lookup
 * it does is reported to the recorder itself.
 */
import { lookup } from "node:dns/promises";
import { connect, isIP, type Socket } from "node:net";
import type { DialFunc } from "../index.js";
import type { ExchangeRecorder } from "./recorder.js";

function opened(socket: Socket, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      socket.destroy();
      reject(signal.reason);
    };
    socket.once("connect", () => {
      signal.removeEventListener("abort", onAbort);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once("error", (err) => {
      signal.removeEventListener("abort", onAbort);
      reject(err);
    });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}

export function customDial(
  opts: { unixSocket?: string; family?: 4 | 6 },
  recorder: ExchangeRecorder | null,
): DialFunc | undefined {
  const path = opts.unixSocket;
  if (path !== undefined) return ({ signal }) => opened(connect({ path }), signal);
  const family = opts.family;
  if (family === undefined) return undefined;
  return async ({ host, port, signal }) => {
    let address = host;
    if (isIP(host) === 0) {
      const start = recorder?.now() ?? 0;
      try {
        address = (await lookup(host, { family })).address;
        recorder?.noteLookup(start, recorder.now(), [address]);
      } catch (err) {
        recorder?.noteLookup(start, recorder.now(), [], err as Error);
        throw err;
      }
    } else if (isIP(host) !== family) {
      throw Object.assign(new Error(`${host} is not an IPv${family} address`), { code: "EADDRNOTAVAIL" });
    }
    return opened(connect({ host: address, port, family }), signal);
  };
}
