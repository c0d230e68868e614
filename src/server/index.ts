/**
 * roundtrip-http/server: serve files and random-access content from any node:http server, as
 * Go's http.ServeFile / http.ServeContent do, with the body sent zero-copy on plain TCP.
 *
 *   import { serveFile } from "roundtrip-http/server";
 *   http.createServer((req, res) => serveFile(req, res, "./public/big.iso"));
 */
export { contentTypeByExtension } from "./mime.js";
export type { Transfer } from "./send.js";
export type {
  ContentReader,
  ServeContentSource,
  ServeOptions,
  ServeResult,
} from "./serve-content.js";
export { serveContent } from "./serve-content.js";
export type { ServeFileOptions } from "./serve-file.js";
export { serveFile } from "./serve-file.js";
export { detectContentType } from "./sniff.js";
