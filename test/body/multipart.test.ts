/**
 * Multipart part heads carry no injected line: a Blob's `type` that a header cannot
 * carry is refused before anything is sent; names and filenames are escaped as browsers
 * escape them (WHATWG HTML multipart/form-data encoding), whatever object supplies them.
 */
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import busboy from "busboy";
import { closeLeftovers, httpPeer, newTransport } from "../client/util.js";
import { assertNoLeaks, rejectsWith, tcpHandles } from "../helpers.js";

afterEach(closeLeftovers);

/**
 * A File whose `type` and `name` getters return whatever the caller wants, as a subclass
 * may (a real File's constructor empties a type with control characters). FormData keeps
 * a File as it is; a bare Blob it would turn into a new, normalized File.
 */
class CraftedFile extends File {
  constructor(
    private readonly craftedType: string,
    private readonly craftedName = "f.txt",
  ) {
    super(["REAL"], "f.txt");
  }
  override get type(): string {
    return this.craftedType;
  }
  override get name(): string {
    return this.craftedName;
  }
}

/** The same for a bare Blob (the form option takes it as it is). */
class CraftedBlob extends Blob {
  constructor(private readonly craftedType: string) {
    super(["REAL"]);
  }
  override get type(): string {
    return this.craftedType;
  }
}

test("a Blob type with CR, LF or NUL is ERR_INVALID_REQUEST and nothing is sent (undici GHSA-m8rv-5g2x-5cg5, form-data #612)", async () => {
  const base = tcpHandles();
  const peer = await httpPeer((_req, res) => res.end("sent"));
  const t = newTransport();
  const boundaryGuess = "----roundtrip";
  const forged = `image/png\r\n\r\nvalue\r\n--${boundaryGuess}\r\nContent-Disposition: form-data; name="is_admin"\r\n\r\ntrue`;
  for (const type of [
    forged,
    "text/plain\r\nX-Injected: 1",
    "text/plain\nX: 1",
    "text/plain\rX: 1",
    "a\0b",
  ]) {
    const fd = new FormData();
    fd.append("file", new CraftedFile(type));
    const err = await rejectsWith(
      t.roundTrip({ url: peer.url, method: "POST", body: fd }),
      "ERR_INVALID_REQUEST",
    );
    assert.match(err.message, /Blob type/);
    for (const blob of [new CraftedBlob(type), new CraftedFile(type)]) {
      await rejectsWith(
        t.roundTrip({ url: peer.url, method: "POST", form: { file: blob } }),
        "ERR_INVALID_REQUEST",
      );
    }
  }
  assert.equal(peer.connections, 0, "refused before dialing");
  await peer.close();
  await assertNoLeaks(t, base);
});

test("names and filenames with CR, LF and quotes are escaped as browsers do (form-data GHSA-hmw2-7cc7-3qxx); a NUL is refused", async () => {
  const base = tcpHandles();
  const seen: Array<{
    name: string;
    filename: string | null | undefined;
    type: string | null;
    value: string;
  }> = [];
  const heads: string[] = [];
  const peer = await httpPeer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    const bb = busboy({ headers: req.headers });
    bb.on("field", (name, value) => seen.push({ name, filename: null, type: null, value }));
    bb.on("file", (name, stream, info) => {
      const parts: Buffer[] = [];
      stream.on("data", (c: Buffer) => parts.push(c));
      stream.on("end", () =>
        seen.push({
          name,
          filename: info.filename,
          type: info.mimeType,
          value: Buffer.concat(parts).toString(),
        }),
      );
    });
    bb.on("close", () => {
      heads.push(Buffer.concat(chunks).toString("latin1"));
      res.end("ok");
    });
    req.pipe(bb);
  });
  const t = newTransport();
  const fd = new FormData();
  fd.append('n"\r\nX-Injected: 1', "v");
  fd.append("f", new CraftedFile("text/plain", 'x.txt"\r\nX-Injected: 2'));
  fd.append("g", new File(["file"], "a\rb\nc.txt", { type: "text/plain" }));
  await (await t.roundTrip({ url: peer.url, method: "POST", body: fd })).close();
  assert.deepEqual(seen, [
    { name: "n%22%0D%0AX-Injected: 1", filename: null, type: null, value: "v" },
    { name: "f", filename: "x.txt%22%0D%0AX-Injected: 2", type: "text/plain", value: "REAL" },
    { name: "g", filename: "a%0Db%0Ac.txt", type: "text/plain", value: "file" },
  ]);
  assert.doesNotMatch(heads[0]!, /\r\nX-Injected/);

  // A NUL has no browser escape: refused, for a field name and for a filename.
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", form: { "a\0b": "v" } }),
    "ERR_INVALID_REQUEST",
  );
  await rejectsWith(
    t.roundTrip({ url: peer.url, method: "POST", form: { f: new CraftedFile("text/plain", "a\0b") } }),
    "ERR_INVALID_REQUEST",
  );
  assert.equal(heads.length, 1, "nothing sent for the refused forms");
  await peer.close();
  await assertNoLeaks(t, base);
});
