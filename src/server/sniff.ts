/**
 * Content sniffing for content with no known type: the WHATWG MIME Sniffing Standard's
 * "rules for identifying an unknown MIME type" (mimesniff.spec.whatwg.org, section 7.1)
 * with the same table and the same answers as Go's http.DetectContentType, so a file served
 * by roundtrip gets the type Go would give it.
 */

/** At most this many leading bytes decide the type. */
export const SNIFF_LENGTH = 512;

const HTML = "text/html; charset=utf-8";

type Sig = (data: Uint8Array, firstNonWS: number) => string | undefined;

function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** The pattern at offset 0, byte for byte. */
function exact(pattern: string, type: string): Sig {
  const pat = bytes(pattern);
  return (data) => (startsWith(data, pat, 0) ? type : undefined);
}

/** Each data byte ANDed with the mask must equal the pattern byte. */
function masked(mask: string, pattern: string, type: string, skipWS = false): Sig {
  const m = bytes(mask);
  const pat = bytes(pattern);
  return (data, firstNonWS) => {
    const at = skipWS ? firstNonWS : 0;
    if (data.length - at < m.length) return undefined;
    for (let i = 0; i < m.length; i++) if ((data[at + i]! & m[i]!) !== pat[i]) return undefined;
    return type;
  };
}

/**
 * An HTML tag: case-insensitive after leading whitespace, followed by a tag-terminating
 * byte (space or `>`, as Go accepts).
 */
function html(tag: string): Sig {
  const pat = bytes(tag);
  return (data, at) => {
    if (data.length - at < pat.length + 1) return undefined;
    for (let i = 0; i < pat.length; i++) {
      let b = data[at + i]!;
      const p = pat[i]!;
      if (p >= 0x41 && p <= 0x5a) b &= 0xdf; // fold the data byte to upper case
      if (b !== p) return undefined;
    }
    const end = data[at + pat.length];
    return end === 0x20 || end === 0x3e ? HTML : undefined;
  };
}

const FTYP = bytes("ftyp");
const MP4 = bytes("mp4");

/** ISO base media "ftyp" box naming an mp4 brand (mimesniff 6.2.1). */
const mp4: Sig = (data) => {
  if (data.length < 12) return undefined;
  const boxSize = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
  if (boxSize % 4 !== 0 || data.length < boxSize) return undefined;
  if (!startsWith(data, FTYP, 4)) return undefined;
  for (let at = 8; at < boxSize; at += 4) {
    if (at === 12) continue; // minor version, not a brand
    if (startsWith(data, MP4, at)) return "video/mp4";
  }
  return undefined;
};

/** No binary-data byte anywhere after leading whitespace (mimesniff 7.1 step 7). */
const text: Sig = (data, firstNonWS) => {
  for (let i = firstNonWS; i < data.length; i++) {
    const b = data[i]!;
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) return undefined;
  }
  return "text/plain; charset=utf-8";
};

const SIGNATURES: readonly Sig[] = [
  ...[
    "<!DOCTYPE HTML",
    "<HTML",
    "<HEAD",
    "<SCRIPT",
    "<IFRAME",
    "<H1",
    "<DIV",
    "<FONT",
    "<TABLE",
    "<A",
    "<STYLE",
    "<TITLE",
    "<B",
    "<BODY",
    "<BR",
    "<P",
    "<!--",
  ].map(html),
  masked("\xFF\xFF\xFF\xFF\xFF", "<?xml", "text/xml; charset=utf-8", true),
  exact("%PDF-", "application/pdf"),
  exact("%!PS-Adobe-", "application/postscript"),
  // Byte order marks.
  masked("\xFF\xFF\x00\x00", "\xFE\xFF\x00\x00", "text/plain; charset=utf-16be"),
  masked("\xFF\xFF\x00\x00", "\xFF\xFE\x00\x00", "text/plain; charset=utf-16le"),
  masked("\xFF\xFF\xFF\x00", "\xEF\xBB\xBF\x00", "text/plain; charset=utf-8"),
  // Images (mimesniff 6.1).
  exact("\x00\x00\x01\x00", "image/x-icon"),
  exact("\x00\x00\x02\x00", "image/x-icon"),
  exact("BM", "image/bmp"),
  exact("GIF87a", "image/gif"),
  exact("GIF89a", "image/gif"),
  masked(
    "\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF\xFF\xFF",
    "RIFF\x00\x00\x00\x00WEBPVP",
    "image/webp",
  ),
  exact("\x89PNG\x0D\x0A\x1A\x0A", "image/png"),
  exact("\xFF\xD8\xFF", "image/jpeg"),
  // Audio and video (mimesniff 6.2).
  masked("\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF", "FORM\x00\x00\x00\x00AIFF", "audio/aiff"),
  exact("ID3", "audio/mpeg"),
  exact("OggS\x00", "application/ogg"),
  exact("MThd\x00\x00\x00\x06", "audio/midi"),
  masked("\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF", "RIFF\x00\x00\x00\x00AVI ", "video/avi"),
  masked("\xFF\xFF\xFF\xFF\x00\x00\x00\x00\xFF\xFF\xFF\xFF", "RIFF\x00\x00\x00\x00WAVE", "audio/wave"),
  mp4,
  exact("\x1A\x45\xDF\xA3", "video/webm"),
  // Fonts (mimesniff 6.3).
  masked(`${"\x00".repeat(34)}\xFF\xFF`, `${"\x00".repeat(34)}LP`, "application/vnd.ms-fontobject"),
  exact("\x00\x01\x00\x00", "font/ttf"),
  exact("OTTO", "font/otf"),
  exact("ttcf", "font/collection"),
  exact("wOFF", "font/woff"),
  exact("wOF2", "font/woff2"),
  // Archives (mimesniff 6.4).
  exact("\x1F\x8B\x08", "application/x-gzip"),
  exact("PK\x03\x04", "application/zip"),
  exact("Rar!\x1A\x07\x00", "application/x-rar-compressed"),
  exact("Rar!\x1A\x07\x01\x00", "application/x-rar-compressed"),
  exact("\x00asm", "application/wasm"),
  text, // last: anything not binary is text
];

/**
 * The Content-Type of `data` judged from its first 512 bytes; always a valid MIME type,
 * `application/octet-stream` when nothing more specific fits.
 */
export function detectContentType(data: Uint8Array): string {
  const head = data.length > SNIFF_LENGTH ? data.subarray(0, SNIFF_LENGTH) : data;
  let firstNonWS = 0;
  while (firstNonWS < head.length && isWS(head[firstNonWS]!)) firstNonWS++;
  for (const sig of SIGNATURES) {
    const type = sig(head, firstNonWS);
    if (type !== undefined) return type;
  }
  return "application/octet-stream";
}

function isWS(b: number): boolean {
  return b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x20;
}

function startsWith(data: Uint8Array, pat: Uint8Array, at: number): boolean {
  if (data.length - at < pat.length) return false;
  for (let i = 0; i < pat.length; i++) if (data[at + i] !== pat[i]) return false;
  return true;
}
