/**
 * The connect method of a request (Go's connectMethod): which proxy its connections go
 * through, the key they are pooled under (scheme, host:port and the proxy, credentials
 * included, so connections through different proxies are never mixed), and the
 * connection settings that depend on it (absolute-form targets and Proxy-Authorization
 * for plain http through an HTTP proxy).
 */
import { absoluteForm } from "../http1/url.js";
import type { ConnSettings, TransportSettings } from "./options.js";
import type { HostTarget } from "./pool.js";
import type { PreparedRequest } from "./prepared.js";
import { parseProxyURL, proxyAuthorization } from "./proxy.js";

export class ConnectMethods {
  readonly #choose: TransportSettings["proxy"];
  /** Proxy decisions per scheme://host:port, when they cannot change (env or fixed). */
  readonly #cache: Map<string, HostTarget> | null;
  readonly #conn: ConnSettings;

  constructor(settings: TransportSettings) {
    this.#choose = settings.proxy;
    this.#cache = settings.proxyCacheable ? new Map() : null;
    this.#conn = settings.conn;
  }

  /** The pool target of `req`. Throws what a caller's proxy function throws. */
  target(req: PreparedRequest): HostTarget {
    const t = req.target;
    const direct = t.direct;
    const cached = this.#cache?.get(direct);
    if (cached !== undefined) return cached;
    const chosen = this.#choose === null ? null : this.#choose(t.url);
    const proxy = chosen === null || chosen === "" ? null : parseProxyURL(chosen);
    const target: HostTarget = {
      key: proxy === null ? direct : `${direct}|${proxy.href}`,
      hostPort: t.hostPort,
      scheme: t.scheme,
      hostname: t.hostname,
      port: t.port,
      proxy,
    };
    this.#cache?.set(direct, target);
    return target;
  }

  /** The settings of `target`'s connections. */
  settings(target: HostTarget): ConnSettings {
    const proxy = target.proxy;
    if (
      proxy === null ||
      target.scheme !== "http" ||
      (proxy.protocol !== "http:" && proxy.protocol !== "https:")
    ) {
      return this.#conn;
    }
    return {
      ...this.#conn,
      absoluteTarget: (req) => absoluteForm(req.target.url),
      proxyAuthorization: proxyAuthorization(proxy),
    };
  }
}
