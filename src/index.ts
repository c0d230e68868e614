/**
 * roundtrip: an HTTP/1.1 client for Node.js built the way Go's net/http is built.
 * See README.md for a tour, docs/design.md for the layers.
 */

export { FileBody, type FileRange, file, openAsBlob } from "./body/file.js";
export { Body } from "./body/incoming.js";
export type { FormInit, FormValue } from "./body/multipart.js";
export type { BodyInit } from "./body/outgoing.js";
export { type ZeroCopyStatus, zeroCopy } from "./body/zerocopy.js";
export {
  type CheckRedirect,
  Client,
  type ClientOptions,
  type ClientRequest,
  type ClientRequestOptions,
  type CookieJar,
  getDefaultClient,
  getDefaultTransport,
  type RedirectRequest,
} from "./client/client.js";
export { type FetchInit, fetch } from "./client/fetch.js";
export { type ErrorCode, isRoundtripError, RoundtripError, type TimeoutPhase } from "./errors.js";
export { Headers, type HeadersInit } from "./http1/headers.js";
export { type CacheOptions, type CacheStatus, cache } from "./middleware/cache.js";
export {
  type CacheEntry,
  type CacheMetadata,
  type CacheStore,
  type CacheWriter,
  MemoryCacheStore,
  type MemoryCacheStoreOptions,
} from "./middleware/cache-store.js";
export {
  type ComposedTransport,
  compose,
  type Middleware,
  type TransportLifecycle,
} from "./middleware/compose.js";
export { FileCacheStore } from "./middleware/file-store.js";
export type { AfterResponseHook, BeforeRequestHook, HookRequest } from "./middleware/hooks.js";
export { type RetryContext, type RetryOptions, retry } from "./middleware/retry.js";
export type { Clock, Timers } from "./middleware/timers.js";
export type { DialFunc, DialOptions } from "./transport/dial.js";
export type { DnsCacheOptions, LookupFunction } from "./transport/dns-cache.js";
export type { Progress, RequestOptions, TransportRequest } from "./transport/prepared.js";
export { type ConnInfo, Response, type ResponseInit, type Timings } from "./transport/response.js";
export type { ClientTrace } from "./transport/trace.js";
export {
  type HostStats,
  type RoundTripper,
  Transport,
  type TransportOptions,
  type TransportStats,
  VERSION,
} from "./transport/transport.js";
