// The benchmark scenarios (issue 6) and which clients take part in each.

const GiB = 1024 ** 3;

/** A 1 KiB JSON document (exactly 1024 bytes), the POST body of post1k-c50. */
export function json1k() {
  const base = JSON.stringify({ id: 12345, name: "roundtrip", tags: ["a", "b"], pad: "" });
  const doc = JSON.stringify({
    id: 12345,
    name: "roundtrip",
    tags: ["a", "b"],
    pad: "x".repeat(1024 - base.length),
  });
  if (doc.length !== 1024) throw new Error("json1k is not 1 KiB");
  return doc;
}

export const RPS_CLIENTS = [
  "roundtrip.request",
  "roundtrip.roundTrip",
  "roundtrip.fetch",
  "undici.request",
  "undici.stream",
  "undici.dispatch",
  "undici.dispatch (Pool)",
  "undici.fetch",
  "node:http",
  "got",
  "axios",
  "floor",
];

const UPLOAD_CLIENTS = [
  "node (idle)",
  "roundtrip.request",
  "roundtrip.request (no zero-copy)",
  "undici.request",
  "undici.fetch",
  "node:http",
  "got",
  "axios",
  "curl",
  "go net/http",
];

/** The reference setup: the same upload into nginx (WebDAV PUT, stored in tmpfs). */
const UPLOAD_NGINX_CLIENTS = [
  "node (idle)",
  "roundtrip.request",
  "roundtrip.request (no zero-copy)",
  "undici.request",
  "node:http",
  "curl",
  "go net/http",
];

const MULTIPART_CLIENTS = [
  "node (idle)",
  "roundtrip.request",
  "roundtrip.request (no zero-copy)",
  "roundtrip.request (FormData)",
  "undici.request",
  "undici.fetch",
  "curl",
  "go net/http",
];

const DOWNLOAD_CLIENTS = [
  "node (idle)",
  "roundtrip.request",
  "roundtrip.fetch",
  "undici.request",
  "undici.fetch",
  "node:http",
  "got",
  "axios",
  "curl",
];

/** Downloads into a file (issue 18): roundtrip's saveTo with and without splice(2) beside pipeline(). */
const SAVE_CLIENTS = [
  "node (idle)",
  "roundtrip.request",
  "roundtrip.request (no zero-copy)",
  "roundtrip.request (pipeline)",
  "undici.request",
  "curl",
  "go net/http",
];

/**
 * kind "rps": many small exchanges; `path` is served by both servers.
 * kind "upload" | "multipart" | "download" | "save": one large transfer per run; `size` in
 * bytes ("save": the body written to a file, which the runner checks and removes).
 * `group` decides which flag selects it: default scenarios run with no flag.
 * `sink: "nginx-put"`: uploads go to nginx's WebDAV PUT location instead of the Node sink.
 */
export const SCENARIOS = [
  {
    id: "get13-c1",
    group: "default",
    kind: "rps",
    title: "GET 13-byte body, 1 request at a time",
    method: "GET",
    path: "/13",
    concurrency: 1,
    expectBytes: 13,
    clients: RPS_CLIENTS,
  },
  {
    id: "get13-c50",
    group: "default",
    kind: "rps",
    title: "GET 13-byte body, 50 concurrent requests",
    method: "GET",
    path: "/13",
    concurrency: 50,
    expectBytes: 13,
    clients: RPS_CLIENTS,
  },
  {
    id: "get64k-c50",
    group: "default",
    kind: "rps",
    title: "GET 64 KiB body, 50 concurrent requests",
    method: "GET",
    path: "/64k",
    concurrency: 50,
    expectBytes: 64 * 1024,
    clients: RPS_CLIENTS,
  },
  {
    id: "post1k-c50",
    group: "default",
    kind: "rps",
    title: "POST 1 KiB JSON, 50 concurrent requests",
    method: "POST",
    path: "/json",
    concurrency: 50,
    body: json1k(),
    headers: { "content-type": "application/json" },
    expectBytes: 11,
    clients: RPS_CLIENTS,
  },
  {
    id: "upload-1g",
    group: "upload",
    kind: "upload",
    title: "PUT a 1 GiB file",
    path: "/upload",
    size: GiB,
    clients: UPLOAD_CLIENTS,
  },
  {
    id: "upload-1g-nginx",
    group: "upload",
    kind: "upload",
    sink: "nginx-put",
    title: "PUT a 1 GiB file to nginx (WebDAV PUT into tmpfs; the issue's reference setup)",
    path: "/put/",
    size: GiB,
    clients: UPLOAD_NGINX_CLIENTS,
  },
  {
    id: "multipart-1g",
    group: "upload",
    kind: "multipart",
    title: "POST a 1 GiB file as multipart/form-data",
    path: "/upload",
    size: GiB,
    clients: MULTIPART_CLIENTS,
  },
  {
    id: "upload-4g",
    group: "upload4g",
    kind: "upload",
    title: "PUT a 4 GiB file (peak RSS must match the 1 GiB run)",
    path: "/upload",
    size: 4 * GiB,
    clients: [
      "node (idle)",
      "roundtrip.request",
      "roundtrip.request (no zero-copy)",
      "undici.request",
      "node:http",
      "curl",
      "go net/http",
    ],
  },
  {
    id: "download-1g",
    group: "download",
    kind: "download",
    title: "GET a 1 GiB body into a slow-ish consumer (1 ms pause per MiB)",
    path: "/download/",
    size: GiB,
    clients: DOWNLOAD_CLIENTS,
  },
  {
    id: "save-1g",
    group: "download",
    kind: "save",
    title: "GET a 1 GiB body into a file (roundtrip: body.saveTo)",
    path: "/download/",
    size: GiB,
    clients: SAVE_CLIENTS,
  },
  {
    id: "save-4g",
    group: "download4g",
    kind: "save",
    title: "GET a 4 GiB body into a file (peak RSS must match the 1 GiB run)",
    path: "/download/",
    size: 4 * GiB,
    clients: SAVE_CLIENTS,
  },
];

/** Sizes used by --quick so a smoke run of the big transfers takes seconds. */
export const QUICK_SIZE = 64 * 1024 * 1024;
