/**
 * Content-Type by file extension. A fixed table rather than the host's /etc/mime.types (Go
 * reads that too): the same file then gets the same type on every machine. Text types
 * carry `charset=utf-8`, as Go's built-in table does.
 */

const UTF8 = "; charset=utf-8";

const TYPES: ReadonlyMap<string, string> = new Map([
  // text and web
  [".html", `text/html${UTF8}`],
  [".htm", `text/html${UTF8}`],
  [".css", `text/css${UTF8}`],
  [".js", `text/javascript${UTF8}`],
  [".mjs", `text/javascript${UTF8}`],
  [".cjs", `text/javascript${UTF8}`],
  [".json", "application/json"],
  [".map", "application/json"],
  [".webmanifest", "application/manifest+json"],
  [".xml", `text/xml${UTF8}`],
  [".txt", `text/plain${UTF8}`],
  [".text", `text/plain${UTF8}`],
  [".md", `text/markdown${UTF8}`],
  [".csv", `text/csv${UTF8}`],
  [".tsv", `text/tab-separated-values${UTF8}`],
  [".ics", `text/calendar${UTF8}`],
  [".vtt", `text/vtt${UTF8}`],
  [".yaml", `application/yaml`],
  [".yml", `application/yaml`],
  [".wasm", "application/wasm"],
  // images
  [".avif", "image/avif"],
  [".bmp", "image/bmp"],
  [".gif", "image/gif"],
  [".ico", "image/vnd.microsoft.icon"],
  [".jpeg", "image/jpeg"],
  [".jpg", "image/jpeg"],
  [".png", "image/png"],
  [".svg", "image/svg+xml"],
  [".tif", "image/tiff"],
  [".tiff", "image/tiff"],
  [".webp", "image/webp"],
  // fonts
  [".otf", "font/otf"],
  [".ttf", "font/ttf"],
  [".woff", "font/woff"],
  [".woff2", "font/woff2"],
  // audio and video
  [".aac", "audio/aac"],
  [".flac", "audio/flac"],
  [".m4a", "audio/mp4"],
  [".mid", "audio/midi"],
  [".midi", "audio/midi"],
  [".mp3", "audio/mpeg"],
  [".oga", "audio/ogg"],
  [".ogg", "audio/ogg"],
  [".opus", "audio/ogg"],
  [".wav", "audio/wav"],
  [".weba", "audio/webm"],
  [".avi", "video/x-msvideo"],
  [".m3u8", "application/vnd.apple.mpegurl"],
  [".mov", "video/quicktime"],
  [".mp4", "video/mp4"],
  [".mpeg", "video/mpeg"],
  [".ogv", "video/ogg"],
  [".ts", "video/mp2t"],
  [".webm", "video/webm"],
  // documents and archives
  [".bin", "application/octet-stream"],
  [".iso", "application/x-iso9660-image"],
  [".7z", "application/x-7z-compressed"],
  [".bz2", "application/x-bzip2"],
  [".epub", "application/epub+zip"],
  [".gz", "application/gzip"],
  [".jar", "application/java-archive"],
  [".pdf", "application/pdf"],
  [".rar", "application/vnd.rar"],
  [".rtf", "application/rtf"],
  [".tar", "application/x-tar"],
  [".xz", "application/x-xz"],
  [".zip", "application/zip"],
  [".zst", "application/zstd"],
  [".doc", "application/msword"],
  [".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
  [".xls", "application/vnd.ms-excel"],
  [".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"],
  [".ppt", "application/vnd.ms-powerpoint"],
  [".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"],
  [".odt", "application/vnd.oasis.opendocument.text"],
]);

/**
 * The Content-Type for a file name or extension (`"a/b.CSS"`, `".css"`), or undefined
 * when the extension is unknown and the caller should sniff. Case-insensitive.
 */
export function contentTypeByExtension(nameOrExt: string): string | undefined {
  const slash = Math.max(nameOrExt.lastIndexOf("/"), nameOrExt.lastIndexOf("\\"));
  const base = nameOrExt.slice(slash + 1);
  const dot = base.lastIndexOf(".");
  if (dot < 0) return undefined;
  return TYPES.get(base.slice(dot).toLowerCase());
}
