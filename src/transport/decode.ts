/**
 * Transparent decompression of response bodies (gzip, deflate, br) between the
 * connection and the Body. Framing and reuse do not depend on it: the connection is
 * freed when the raw bytes are complete; corrupt or truncated data fails the Body with
 * ERR_BAD_RESPONSE (as Go's io.ErrUnexpectedEOF); an empty body (no encoded byte at all)
 * is an empty body. Backpressure runs both ways: a full decoder pauses the socket, a
 * slow reader pauses the decoder.
 */
import * as zlib from "node:zlib";
import type { BodyBuffer, BodySource } from "../body/incoming.js";
import { RoundtripError } from "../errors.js";

export const ACCEPT_ENCODING = "gzip, deflate, br";

export interface Decoder {
  write(chunk: Buffer): void;
  end(): void;
  destroy(): void;
}

interface Pausable {
  pauseReading(reason: number): void;
  resumeReading(reason: number): void;
}

const DECODER_PAUSE = 2;

function makeStream(coding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | null {
  switch (coding) {
    case "gzip":
    case "x-gzip":
      // Default finishFlush (Z_FINISH): a stream cut short is an error, as in Go
      // (io.ErrUnexpectedEOF), not a silently shorter body.
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      return null;
  }
}

/** A decoder for `contentEncoding`, or null when it is not one we asked for (raw bytes then). */
export function createDecoder(
  contentEncoding: string,
  buffer: BodyBuffer,
  conn: Pausable,
  exchange: BodySource,
): Decoder | null {
  const coding = contentEncoding.trim().toLowerCase();
  const stream = makeStream(coding);
  if (stream === null) return null;
  let failed = false;
  /** Whether any encoded byte arrived; an empty body decodes to an empty body. */
  let wrote = false;
  // The body's backpressure now pauses the decoder; the decoder's pauses the socket.
  buffer.source = {
    pause: () => stream.pause(),
    resume: () => stream.resume(),
    discard: () => exchange.discard(),
    abandon: () => exchange.abandon(),
  };
  stream.on("data", (chunk: Buffer) => buffer.push(chunk));
  stream.on("end", () => buffer.end());
  stream.on("error", (cause) => {
    if (failed) return;
    failed = true;
    buffer.fail(new RoundtripError("ERR_BAD_RESPONSE", `corrupt ${coding} response body`, { cause }));
  });
  stream.on("drain", () => conn.resumeReading(DECODER_PAUSE));
  return {
    write(chunk) {
      if (failed || stream.destroyed || chunk.length === 0) return;
      wrote = true;
      if (!stream.write(chunk)) conn.pauseReading(DECODER_PAUSE);
    },
    end() {
      if (failed || stream.destroyed) return;
      if (wrote) {
        stream.end();
      } else {
        // Nothing to decode (Go's gzip reader sees io.EOF at once): an empty body.
        stream.destroy();
        buffer.end();
      }
    },
    destroy() {
      failed = true;
      stream.destroy();
    },
  };
}
