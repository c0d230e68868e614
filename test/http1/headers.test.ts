/**
 * Headers: case-insensitive, multi-valued, order-preserving, Set-Cookie kept apart,
 * every name and value checked (ERR_INVALID_REQUEST) on the way in.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { RoundtripError } from "../../src/errors.js";
import { Headers, type HeadersInit, trustedHeaders } from "../../src/http1/headers.js";

function invalid(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof RoundtripError && err.code === "ERR_INVALID_REQUEST");
}

describe("Headers lookups", () => {
  const h = new Headers([
    ["Content-Type", "text/plain"],
    ["X-Multi", "1"],
    ["x-multi", "2"],
    ["Set-Cookie", "a=1; Path=/"],
    ["X-MULTI", "3"],
    ["set-cookie", "b=2, with a comma"],
  ]);

  test("get, has and getAll ignore case", () => {
    for (const name of ["content-type", "CONTENT-TYPE", "Content-Type"]) {
      assert.equal(h.get(name), "text/plain");
      assert.equal(h.has(name), true);
    }
    assert.equal(h.get("missing"), null);
    assert.equal(h.has("missing"), false);
    assert.deepEqual(h.getAll("Missing"), []);
  });

  test("multiple values keep their order; get joins them with a comma", () => {
    assert.deepEqual(h.getAll("X-Multi"), ["1", "2", "3"]);
    assert.equal(h.get("x-multi"), "1, 2, 3");
  });

  test("Set-Cookie lines are kept apart", () => {
    assert.deepEqual(h.getSetCookie(), ["a=1; Path=/", "b=2, with a comma"]);
    assert.deepEqual(h.toJSON()["set-cookie"], ["a=1; Path=/", "b=2, with a comma"]);
  });

  test("size counts field lines; iteration gives lower-case names, one entry per line", () => {
    assert.equal(h.size, 6);
    assert.deepEqual(
      [...h].map(([n]) => n),
      ["content-type", "x-multi", "x-multi", "set-cookie", "x-multi", "set-cookie"],
    );
    assert.deepEqual(
      [...h.keys()],
      [...h].map(([n]) => n),
    );
    assert.deepEqual(
      [...h.values()],
      [...h].map(([, v]) => v),
    );
    const seen: string[] = [];
    h.forEach((v, n, self) => {
      assert.equal(self, h);
      seen.push(`${n}=${v}`);
    });
    assert.equal(seen.length, 6);
  });

  test("raw keeps names as given", () => {
    assert.deepEqual(
      h.raw().map(([n]) => n),
      ["Content-Type", "X-Multi", "x-multi", "Set-Cookie", "X-MULTI", "set-cookie"],
    );
  });

  test("toJSON joins repeated fields except Set-Cookie", () => {
    assert.deepEqual(h.toJSON(), {
      "content-type": "text/plain",
      "x-multi": "1, 2, 3",
      "set-cookie": ["a=1; Path=/", "b=2, with a comma"],
    });
  });
});

describe("Headers changes", () => {
  test("delete removes every line of a name, any case; unknown names are a no-op", () => {
    const h = new Headers([
      ["A", "1"],
      ["b", "2"],
      ["a", "3"],
    ]);
    h.delete("missing");
    h.delete("A");
    assert.deepEqual(h.raw(), [["b", "2"]]);
    assert.equal(h.has("a"), false);
  });

  test("set replaces every line of a name, in the place of the first", () => {
    const h = new Headers([
      ["A", "1"],
      ["B", "2"],
      ["a", "3"],
    ]);
    h.set("a", "new");
    assert.deepEqual(h.raw(), [
      ["a", "new"],
      ["B", "2"],
    ]);
    h.set("C", "4");
    assert.deepEqual(h.raw(), [
      ["a", "new"],
      ["B", "2"],
      ["C", "4"],
    ]);
  });

  test("lookups stay right when changes follow the first lookup (lower-case cache)", () => {
    const h = new Headers({ A: "1" });
    assert.equal(h.get("a"), "1");
    h.append("a", "2");
    h.set("B", "3");
    assert.equal(h.get("A"), "1, 2");
    h.delete("a");
    h.append("C", "4");
    assert.deepEqual(
      [...h],
      [
        ["b", "3"],
        ["c", "4"],
      ],
    );
    assert.equal(h.get("c"), "4");
  });

  test("values lose their surrounding OWS (SP, HTAB), nothing else", () => {
    const h = new Headers();
    h.append("X", " \t v a l \t ");
    h.set("Y", "\t");
    assert.equal(h.get("x"), "v a l");
    assert.equal(h.get("y"), "");
  });

  test("a copy does not share state with its source", () => {
    const a = new Headers({ A: "1" });
    const b = new Headers(a);
    b.append("B", "2");
    a.set("A", "changed");
    assert.deepEqual(a.raw(), [["A", "changed"]]);
    assert.deepEqual(b.raw(), [
      ["A", "1"],
      ["B", "2"],
    ]);
  });
});

describe("Headers init", () => {
  const inits: Array<[string, HeadersInit, Array<[string, string]>]> = [
    [
      "object, with arrays, numbers, null and undefined",
      { A: "1", b: ["2", "3"], C: 4, D: undefined, E: null } as HeadersInit,
      [
        ["A", "1"],
        ["b", "2"],
        ["b", "3"],
        ["C", "4"],
      ],
    ],
    [
      "array of pairs",
      [
        ["A", "1"],
        ["a", "2"],
      ],
      [
        ["A", "1"],
        ["a", "2"],
      ],
    ],
    ["Map", new Map([["A", "1"]]), [["A", "1"]]],
    [
      "roundtrip Headers",
      new Headers([
        ["A", "1"],
        ["Set-Cookie", "x"],
      ]),
      [
        ["A", "1"],
        ["Set-Cookie", "x"],
      ],
    ],
    [
      // WHATWG Headers lower-cases names, joins repeats, and keeps Set-Cookie apart.
      "globalThis.Headers",
      new globalThis.Headers([
        ["Set-Cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["X-A", "1"],
        ["x-a", "2"],
      ]),
      [
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
        ["x-a", "1, 2"],
      ],
    ],
    ["nothing", undefined as unknown as HeadersInit, []],
    ["null", null as unknown as HeadersInit, []],
  ];
  for (const [name, init, want] of inits) {
    test(name, () => {
      assert.deepEqual(new Headers(init).raw(), want);
    });
  }

  test("bad pairs are refused", () => {
    invalid(() => new Headers([["A"]] as unknown as HeadersInit));
    invalid(() => new Headers([["A", "1", "2"]] as unknown as HeadersInit));
    invalid(() => new Headers(["AB"] as unknown as HeadersInit));
  });

  test("trustedHeaders takes the parser's arrays as they are", () => {
    const h = trustedHeaders(["Content-Length", "X"], ["3", "\xe9"]);
    assert.equal(h.get("content-length"), "3");
    assert.equal(h.get("x"), "\xe9");
  });
});

describe("Headers validation: ERR_INVALID_REQUEST", () => {
  const badNames = [
    "",
    "X A",
    "X:A",
    "X\r\nY",
    "X\n",
    "X\x00",
    "(X)",
    "X\u00e9",
    "X\u0100",
    "X/Y",
    '"X"',
    "X@Y",
  ];
  const badValues = [
    "a\rb",
    "a\nb",
    "a\r\nX-Injected: 1",
    "a\x00b",
    "\x01",
    "a\x7fb",
    "a\u0100b",
    "\u2028",
    "😀",
  ];
  for (const name of badNames) {
    test(`name ${JSON.stringify(name)}`, () => {
      invalid(() => new Headers().append(name, "v"));
      invalid(() => new Headers().set(name, "v"));
      invalid(() => new Headers({ [name]: "v" }));
      invalid(() => new Headers([[name, "v"]]));
    });
  }
  for (const value of badValues) {
    test(`value ${JSON.stringify(value)}`, () => {
      invalid(() => new Headers().append("X", value));
      invalid(() => new Headers().set("X", value));
      invalid(() => new Headers({ X: value }));
      invalid(() => new Headers({ X: ["ok", value] }));
    });
  }

  test("obs-text (U+0080–U+00FF) and HTAB inside a value are allowed", () => {
    assert.equal(new Headers({ X: "caf\u00e9\tbar\u00ff" }).get("x"), "caf\u00e9\tbar\u00ff");
  });

  test("property: a value is accepted iff it is a field value once OWS is trimmed", () => {
    const unit = fc.oneof(
      fc.constantFrom("\r", "\n", "\x00", "\t", " ", "\x7f", "\u0100", "\xe9", "a"),
      fc.string({ minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 10 }), (value) => {
        const trimmed = value.replace(/^[ \t]+|[ \t]+$/g, "");
        const ok = /^[\t\x20-\x7e\x80-\xff]*$/.test(trimmed);
        if (ok) assert.equal(new Headers([["X", value]]).get("x"), trimmed);
        else invalid(() => new Headers([["X", value]]));
      }),
      { seed: 0x5eed, numRuns: 2000 },
    );
  });
});
