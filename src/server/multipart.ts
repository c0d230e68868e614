/**
 * The multipart/byteranges body (RFC 9110 section 14.6) as a list of segments: literal
 * part headers between ranges of the content. Laid out as Go's mime/multipart writes it, so
 * the Content-Length can be computed before a byte is sent.
 */
import { randomBytes } from "node:crypto";
import { type ByteRange, contentRange } from "./range.js";
import type { Segment } from "./send.js";

export interface MultipartBody {
  /** Value for the response's Content-Type field, with the boundary. */
  contentType: string;
  segments: Segment[];
  /** Exact body length in bytes. */
  length: number;
}

export function multipartByteranges(ranges: ByteRange[], partType: string, size: number): MultipartBody {
  // 32 hex digits: cannot collide with content by accident, and the ranges are never scanned.
  const boundary = randomBytes(16).toString("hex");
  const segments: Segment[] = [];
  let length = 0;
  ranges.forEach((r, i) => {
    let head = `${i === 0 ? "" : "\r\n"}--${boundary}\r\nContent-Range: ${contentRange(r, size)}\r\n`;
    if (partType !== "") head += `Content-Type: ${partType}\r\n`;
    head += "\r\n";
    const bytes = Buffer.from(head, "latin1");
    segments.push(bytes, r);
    length += bytes.length + r.length;
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, "latin1");
  segments.push(tail);
  length += tail.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, segments, length };
}
