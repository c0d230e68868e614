/**
 * roundtrip-http/testing: test code that uses roundtrip without a real server.
 *
 * - MockTransport: a RoundTripper answering from interceptors (no socket opens).
 * - RecordingTransport: records real exchanges to a JSON file and replays them.
 * - startTestServer: a loopback node:http (or TLS + HTTP/2) server, like Go's httptest.
 *
 * See docs/testing.md.
 */
export type { InterceptSpec, Matcher, MockCall, QueryValue } from "./match.js";
export {
  Interceptor,
  type MockRequest,
  MockTransport,
  type MockTransportOptions,
  type ReplyFunction,
  type ReplyOptions,
  type ReplySpec,
} from "./mock.js";
export {
  type RecordingNormalizers,
  RecordingTransport,
  type RecordingTransportOptions,
} from "./recording.js";
export {
  startTestServer,
  type TestContextLike,
  type TestHandler,
  type TestHandler2,
  type TestServer,
  type TestServerOptions,
} from "./server.js";
