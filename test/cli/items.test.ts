/**
 * The request-command grammar without a network: xh/HTTPie request items (separator
 * precedence, escapes), METHOD detection, URL shorthands, how items and curl's data flags
 * become one body, and the argument tokenizer.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseArgs, UsageError } from "../../src/cli/args.js";
import { planBody } from "../../src/cli/body-plan.js";
import { parseItem } from "../../src/cli/items.js";
import { parseRequestCommand } from "../../src/cli/request-args.js";
import { expandURL, splitPositionals } from "../../src/cli/target.js";
import { tempDir } from "./helpers.js";

const noFlags = { data: [], dataRaw: [], dataBinary: [], form: [], urlencoded: false, multipart: false };

describe("request items", () => {
  test("each separator, the earliest one winning, the longest at one spot", () => {
    assert.deepEqual(parseItem("X-Api:abc"), { kind: "header", name: "X-Api", value: "abc" });
    assert.deepEqual(parseItem("Host:a:80"), { kind: "header", name: "Host", value: "a:80" });
    assert.deepEqual(parseItem("Accept:"), { kind: "unsetHeader", name: "Accept" });
    assert.deepEqual(parseItem("X-Empty;"), { kind: "header", name: "X-Empty", value: "" });
    assert.deepEqual(parseItem("q==a b"), { kind: "query", name: "q", value: "a b" });
    assert.deepEqual(parseItem("url=http://x/?a=b"), { kind: "field", name: "url", value: "http://x/?a=b" });
    assert.deepEqual(parseItem("n:=42"), { kind: "json", name: "n", text: "42" });
    assert.deepEqual(parseItem("cfg:=@c.json"), { kind: "jsonFile", name: "cfg", path: "c.json" });
    assert.deepEqual(parseItem("bio=@bio.txt"), { kind: "fieldFile", name: "bio", path: "bio.txt" });
    assert.deepEqual(parseItem("doc@a.pdf"), { kind: "file", name: "doc", path: "a.pdf" });
    assert.deepEqual(parseItem("img@p.png;type=image/png"), {
      kind: "file",
      name: "img",
      path: "p.png",
      type: "image/png",
    });
    assert.deepEqual(parseItem("@body.bin"), { kind: "rawBody", path: "body.bin" });
    assert.deepEqual(parseItem("email=a@b.c"), { kind: "field", name: "email", value: "a@b.c" });
  });

  test("a backslash makes the next character literal", () => {
    assert.deepEqual(parseItem("a\\:b=c"), { kind: "field", name: "a:b", value: "c" });
    assert.deepEqual(parseItem("k=v\\=w"), { kind: "field", name: "k", value: "v=w" });
  });

  test("not an item: no separator, or no name where one is needed", () => {
    assert.throws(() => parseItem("plain"), UsageError);
    assert.throws(() => parseItem("=v"), UsageError);
    assert.throws(() => parseItem(":v"), UsageError);
  });
});

describe("METHOD and URL", () => {
  test("a known method in any case, or an upper-case token, before a URL", () => {
    assert.deepEqual(splitPositionals(["post", ":3000", "a=1"]), {
      method: "POST",
      url: ":3000",
      items: ["a=1"],
    });
    assert.deepEqual(splitPositionals(["PROPFIND", "x.test"]), {
      method: "PROPFIND",
      url: "x.test",
      items: [],
    });
    assert.deepEqual(splitPositionals(["localhost", "a=1"]), {
      method: undefined,
      url: "localhost",
      items: ["a=1"],
    });
    // A lone argument is the URL, whatever it looks like.
    assert.deepEqual(splitPositionals(["GET"]), { method: undefined, url: "GET", items: [] });
  });

  test("shorthands: :port/path is localhost, no scheme gets http://", () => {
    assert.equal(expandURL(":3000/x").href, "http://localhost:3000/x");
    assert.equal(expandURL(":/x?y=1").href, "http://localhost/x?y=1");
    assert.equal(expandURL(":").href, "http://localhost/");
    assert.equal(expandURL(":8080").href, "http://localhost:8080/");
    assert.equal(expandURL("example.com/a").href, "http://example.com/a");
    assert.equal(expandURL("localhost:9000").href, "http://localhost:9000/");
    assert.equal(expandURL("https://h.test/").href, "https://h.test/");
    assert.throws(() => expandURL("ftp://h/"), UsageError);
  });

  test("the method is POST when there is data, GET otherwise, HEAD with -I; -X wins", () => {
    const m = (...argv: string[]) => {
      const p = parseRequestCommand(argv);
      assert.equal(p.kind, "request");
      return p.kind === "request" ? p.plan.method : "";
    };
    assert.equal(m(":1/"), "GET");
    assert.equal(m(":1/", "a=1"), "POST");
    assert.equal(m(":1/", "q==1", "H:v"), "GET");
    assert.equal(m(":1/", "-d", "x"), "POST");
    assert.equal(m("-I", ":1/"), "HEAD");
    assert.equal(m("-X", "put", ":1/", "a=1"), "PUT");
    assert.equal(m("DELETE", ":1/"), "DELETE");
  });
});

describe("body plan", () => {
  test("fields become JSON (strings, raw JSON, file contents)", (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, "bio.txt"), "hello");
    writeFileSync(join(dir, "c.json"), '{"deep":[1,2]}');
    const items = [
      "a=1",
      "b:=true",
      "n:=null",
      `bio=@${join(dir, "bio.txt")}`,
      `cfg:=@${join(dir, "c.json")}`,
    ].map(parseItem);
    assert.deepEqual(planBody(items, noFlags), {
      kind: "json",
      value: { a: "1", b: true, n: null, bio: "hello", cfg: { deep: [1, 2] } },
    });
  });

  test("a file field makes the body multipart; --urlencoded makes fields a form", () => {
    assert.deepEqual(planBody(["f@x.bin", "note=hi"].map(parseItem), noFlags), {
      kind: "multipart",
      parts: [
        { name: "f", path: "x.bin" },
        { name: "note", value: "hi" },
      ],
    });
    assert.deepEqual(planBody(["a=1", "b=2"].map(parseItem), { ...noFlags, urlencoded: true }), {
      kind: "urlencoded",
      pairs: [
        ["a", "1"],
        ["b", "2"],
      ],
    });
    assert.throws(() => planBody(["f@x", "n:=1"].map(parseItem), noFlags), /multipart/);
    assert.throws(() => planBody(["n:=1"].map(parseItem), { ...noFlags, urlencoded: true }), /urlencoded/);
  });

  test("curl's -d pieces join with &, -d @file drops newlines, --data-binary @file streams", (t) => {
    const dir = tempDir(t);
    const f = join(dir, "d.txt");
    writeFileSync(f, "x=1\ny=2\r\n");
    assert.deepEqual(planBody([], { ...noFlags, data: ["a=1", `@${f}`], dataRaw: ["@raw"] }), {
      kind: "data",
      text: "a=1&x=1y=2&@raw",
    });
    assert.deepEqual(planBody([], { ...noFlags, dataBinary: [`@${f}`] }), {
      kind: "file",
      path: f,
      curl: true,
    });
    assert.deepEqual(planBody([], { ...noFlags, data: ["@-"] }), { kind: "stdin", curl: true });
    assert.deepEqual(planBody(["@-"].map(parseItem), noFlags), { kind: "stdin", curl: false });
  });

  test("one body only: mixing kinds is a usage error", () => {
    assert.throws(() => planBody(["a=1"].map(parseItem), { ...noFlags, data: ["x"] }), UsageError);
    assert.throws(() => planBody(["@a", "@b"].map(parseItem), noFlags), UsageError);
    assert.throws(() => planBody(["@a", "k=v"].map(parseItem), noFlags), UsageError);
    assert.throws(() => planBody(["k:=nope"].map(parseItem), noFlags), /not valid JSON/);
  });
});

describe("argument tokenizer", () => {
  const specs = [
    { key: "method", names: ["X", "request"], value: true },
    { key: "k", names: ["k"] },
    { key: "L", names: ["L"] },
  ];
  test("curl's spellings: -X POST, -XPOST, --request=POST, bundled -kL, -- ends flags", () => {
    const a = parseArgs(["-XPOST", "u", "-kL", "--request=PUT", "--", "-not-a-flag"], specs);
    assert.deepEqual(a.flags.get("method"), ["POST", "PUT"]);
    assert.deepEqual(a.flags.get("k"), [""]);
    assert.deepEqual(a.flags.get("L"), [""]);
    assert.deepEqual(a.positionals, ["u", "-not-a-flag"]);
  });
  test("unknown options and missing values are usage errors", () => {
    assert.throws(() => parseArgs(["-Z"], specs), /unknown option -Z/);
    assert.throws(() => parseArgs(["--nope"], specs), /unknown option --nope/);
    assert.throws(() => parseArgs(["-X"], specs), /needs a value/);
  });
});
