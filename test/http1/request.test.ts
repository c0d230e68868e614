/**
 * The request serializer (request.ts) and request URLs (url.ts): request-target forms,
 * Host, User-Agent, Connection, Expect, the framing rule of planFraming, and validation:
 * nothing with CR, LF, NUL or a char above U+00FF is ever serialized.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { RoundtripError } from "../../src/errors.js";
import { Headers } from "../../src/http1/headers.js";
import {
  chunkHeader,
  type Framing,
  lastChunk,
  NO_BODY,
  planFraming,
  type RequestHead,
  serializeHead,
  validateMethod,
} from "../../src/http1/request.js";
import { absoluteForm, authorityForm, originForm, parseRequestURL } from "../../src/http1/url.js";

const UA = "roundtrip/0.1.0";

function req(over: Partial<RequestHead> = {}): RequestHead {
  return {
    method: "GET",
    target: "/",
    host: "example.com",
    headers: null,
    framing: NO_BODY,
    userAgent: UA,
    close: false,
    expectContinue: false,
    acceptEncoding: null,
    ...over,
  };
}

/** Throws unless `fn` throws a RoundtripError with `code`; returns its message. */
function rejects(fn: () => unknown, code: string): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RoundtripError, `not a RoundtripError: ${err}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected ${code}, nothing was thrown`);
}

const TCHAR = "!#$%&'*+\\-.^_`|~0-9A-Za-z";
const REQUEST_LINE = new RegExp(`^([${TCHAR}]+) ([\\x21-\\x7e]+) HTTP/1\\.1$`);
const FIELD_LINE = new RegExp(
  `^([${TCHAR}]+): ((?:[\\x21-\\x7e\\x80-\\xff](?:[ \\t]*[\\x21-\\x7e\\x80-\\xff])*)?)$`,
);

/** A strict parse of a serialized head: RFC 9112 §3 request-line and §5 field lines. */
function parseHead(head: string): { method: string; target: string; fields: Array<[string, string]> } {
  assert.ok(head.endsWith("\r\n\r\n"), "head ends with an empty line");
  const lines = head.slice(0, -4).split("\r\n");
  const m = REQUEST_LINE.exec(lines[0]!);
  assert.ok(m, `request line ${JSON.stringify(lines[0])}`);
  const fields = lines.slice(1).map((line): [string, string] => {
    const f = FIELD_LINE.exec(line);
    assert.ok(f, `field line ${JSON.stringify(line)}`);
    return [f[1]!, f[2]!];
  });
  return { method: m[1]!, target: m[2]!, fields };
}

const names = (head: string): string[] => parseHead(head).fields.map(([n]) => n.toLowerCase());

describe("request target and Host (url.ts)", () => {
  const cases: Array<{
    url: string;
    host: string;
    hostname: string;
    port: number;
    hostPort: string;
    origin: string;
    absolute: string;
    authority: string;
  }> = [
    {
      url: "http://example.com",
      host: "example.com",
      hostname: "example.com",
      port: 80,
      hostPort: "example.com:80",
      origin: "/",
      absolute: "http://example.com/",
      authority: "example.com:80",
    },
    {
      url: "http://example.com:80/x?y=1#frag",
      host: "example.com",
      hostname: "example.com",
      port: 80,
      hostPort: "example.com:80",
      origin: "/x?y=1",
      absolute: "http://example.com/x?y=1",
      authority: "example.com:80",
    },
    {
      url: "https://Example.COM:443/",
      host: "example.com",
      hostname: "example.com",
      port: 443,
      hostPort: "example.com:443",
      origin: "/",
      absolute: "https://example.com/",
      authority: "example.com:443",
    },
    {
      url: "https://user:secret@example.com:8443/a/b?c#d",
      host: "example.com:8443",
      hostname: "example.com",
      port: 8443,
      hostPort: "example.com:8443",
      origin: "/a/b?c",
      absolute: "https://example.com:8443/a/b?c",
      authority: "example.com:8443",
    },
    {
      url: "http://[::1]:8080/p",
      host: "[::1]:8080",
      hostname: "::1",
      port: 8080,
      hostPort: "[::1]:8080",
      origin: "/p",
      absolute: "http://[::1]:8080/p",
      authority: "[::1]:8080",
    },
    {
      // RFC 6874 §4: the zone is for this host's routing only, never in Host.
      url: "http://[fe80::1%25eth0]:8080/",
      host: "[fe80::1]:8080",
      hostname: "fe80::1%eth0",
      port: 8080,
      hostPort: "[fe80::1%eth0]:8080",
      origin: "/",
      absolute: "http://[fe80::1]:8080/",
      authority: "[fe80::1]:8080",
    },
    {
      url: "http://u:p@[FE80:0::1%25en0]/",
      host: "[fe80::1]",
      hostname: "fe80::1%en0",
      port: 80,
      hostPort: "[fe80::1%en0]:80",
      origin: "/",
      absolute: "http://[fe80::1]/",
      authority: "[fe80::1]:80",
    },
    {
      url: "http://bücher.example/ä b?q=1 2",
      host: "xn--bcher-kva.example",
      hostname: "xn--bcher-kva.example",
      port: 80,
      hostPort: "xn--bcher-kva.example:80",
      origin: "/%C3%A4%20b?q=1%202",
      absolute: "http://xn--bcher-kva.example/%C3%A4%20b?q=1%202",
      authority: "xn--bcher-kva.example:80",
    },
  ];
  for (const c of cases) {
    test(c.url, () => {
      const u = parseRequestURL(c.url);
      assert.deepEqual(
        { host: u.host, hostname: u.hostname, port: u.port, hostPort: u.hostPort },
        { host: c.host, hostname: c.hostname, port: c.port, hostPort: c.hostPort },
      );
      assert.equal(originForm(u.url), c.origin);
      assert.equal(absoluteForm(u.url), c.absolute);
      assert.equal(authorityForm(u.hostname, u.port), c.authority);
      assert.deepEqual(parseRequestURL(new URL(u.url.href)).host, c.host, "a URL object gives the same");
    });
  }

  const invalid: Array<[string, unknown]> = [
    ["CR LF in the path (WHATWG would drop them silently)", "http://h/a\r\nb"],
    ["NUL in the path", "http://h/a\x00b"],
    ["HTAB in the host", "http://h\tx/"],
    ["DEL in the query", "http://h/?a\x7f"],
    ["malformed zone escape", "http://[fe80::1%25eth%]/"],
    ["CR LF in the zone", "http://[fe80::1%25%0d%0a]/"],
    ["empty zone", "http://[fe80::1%25]/"],
    ["port 0", "http://h:0/"],
    ["port out of range", "http://h:65536/"],
    ["port not digits", "http://h:8x/"],
    ["not a URL", "http://"],
    ["not a string", 42],
  ];
  for (const [name, url] of invalid) {
    test(`invalid: ${name}`, () => {
      rejects(() => parseRequestURL(url as string), "ERR_INVALID_REQUEST");
    });
  }

  test("an unsupported scheme says so, naming it and the supported ones", () => {
    // It used to say "URL has no port" for ftp://, and let foo://h:99/ through.
    for (const [url, scheme] of [
      ["ftp://example.com/file", "ftp"],
      ["FTP://example.com:21/", "ftp"],
      ["foo://h:99/x", "foo"],
      ["ws://h/socket", "ws"],
      ["file:///etc/passwd", "file"],
      ["mailto:someone@example.com", "mailto"],
      ["data:text/plain,hi", "data"],
    ]) {
      const message = rejects(() => parseRequestURL(url!), "ERR_INVALID_REQUEST");
      assert.ok(message.includes(`unsupported URL scheme "${scheme}"`), message);
      assert.ok(message.includes("supported are http and https"), message);
      assert.doesNotMatch(message, /\bport\b/);
    }
  });

  test("error messages never carry the password, even for a URL that does not parse", () => {
    for (const url of [
      "http://user:s3cret@h:99999/",
      "http://user:s3cret@h/a\nb",
      "http://user:s3cret@[fe80::1%25%]/",
      "ftp://user:s3cret@h/",
    ]) {
      const message = rejects(() => parseRequestURL(url), "ERR_INVALID_REQUEST");
      assert.ok(!message.includes("s3cret"), message);
    }
  });
});

describe("serializeHead", () => {
  test("origin-form request line, Host first, default User-Agent, no framing for GET", () => {
    assert.equal(
      serializeHead(req({ target: "/a?b=1" })),
      `GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ${UA}\r\n\r\n`,
    );
  });

  test("absolute-form for a forward proxy, authority-form for CONNECT", () => {
    const u = parseRequestURL("http://[fe80::1%25eth0]:8080/p?q");
    assert.equal(
      serializeHead(req({ target: absoluteForm(u.url), host: u.host })).split("\r\n")[0],
      "GET http://[fe80::1]:8080/p?q HTTP/1.1",
    );
    const connect = serializeHead(
      req({ method: "CONNECT", target: authorityForm(u.hostname, u.port), host: u.host }),
    );
    assert.deepEqual(connect.split("\r\n").slice(0, 2), [
      "CONNECT [fe80::1]:8080 HTTP/1.1",
      "Host: [fe80::1]:8080",
    ]);
  });

  test("User-Agent: the default, the caller's, and an empty caller value meaning none", () => {
    assert.ok(serializeHead(req()).includes(`User-Agent: ${UA}\r\n`));
    const own = serializeHead(req({ headers: new Headers({ "user-agent": "mine/1" }) }));
    assert.ok(own.includes("user-agent: mine/1\r\n"));
    assert.ok(!own.includes(UA));
    const none = serializeHead(req({ headers: new Headers({ "User-Agent": "" }) }));
    assert.ok(!names(none).includes("user-agent"), none);
    assert.ok(!names(serializeHead(req({ userAgent: "" }))).includes("user-agent"));
  });

  test("caller Host, Content-Length and Transfer-Encoding never go out as given", () => {
    const h = new Headers([
      ["Host", "evil.example"],
      ["Content-Length", "99"],
      ["Transfer-Encoding", "gzip"],
      ["X-Kept", "1"],
    ]);
    const head = serializeHead(req({ method: "POST", headers: h, framing: { kind: "length", length: 3 } }));
    assert.deepEqual(parseHead(head).fields, [
      ["Host", "example.com"],
      ["X-Kept", "1"],
      ["User-Agent", UA],
      ["Content-Length", "3"],
    ]);
  });

  test("framing fields follow the plan", () => {
    const plans: Array<[Framing, Array<[string, string]>]> = [
      [NO_BODY, []],
      [{ kind: "length", length: 0 }, [["Content-Length", "0"]]],
      [{ kind: "length", length: 12345 }, [["Content-Length", "12345"]]],
      [{ kind: "chunked" }, [["Transfer-Encoding", "chunked"]]],
    ];
    for (const [framing, want] of plans) {
      const fields = parseHead(serializeHead(req({ method: "PUT", framing, userAgent: "" }))).fields.slice(1);
      assert.deepEqual(fields, want, JSON.stringify(framing));
    }
  });

  describe("Connection", () => {
    const cases: Array<{ name: string; close: boolean; caller?: string; want: string[] }> = [
      { name: "nothing asked, nothing sent", close: false, want: [] },
      { name: "close asked", close: true, want: ["close"] },
      {
        name: "caller's keep-alive kept when close is not asked",
        close: false,
        caller: "keep-alive",
        want: ["keep-alive"],
      },
      { name: "caller's keep-alive replaced by close", close: true, caller: "keep-alive", want: ["close"] },
      { name: "caller's close not doubled", close: true, caller: "Close", want: ["Close"] },
      { name: "caller's close sent as given", close: false, caller: "close", want: ["close"] },
      {
        name: "caller's other options survive close (an upgrade still works)",
        close: true,
        caller: "Upgrade, keep-alive",
        want: ["Upgrade", "close"],
      },
    ];
    for (const c of cases) {
      test(c.name, () => {
        const headers = c.caller === undefined ? null : new Headers({ Connection: c.caller });
        const fields = parseHead(serializeHead(req({ close: c.close, headers }))).fields;
        assert.deepEqual(
          fields.filter(([n]) => n.toLowerCase() === "connection").map(([, v]) => v),
          c.want,
        );
      });
    }
  });

  describe("Expect", () => {
    test("100-continue is asked only when there is a body", () => {
      const body = serializeHead(
        req({ method: "POST", expectContinue: true, framing: { kind: "length", length: 1 } }),
      );
      assert.ok(body.includes("Expect: 100-continue\r\n"));
      const chunked = serializeHead(
        req({ method: "POST", expectContinue: true, framing: { kind: "chunked" } }),
      );
      assert.ok(chunked.includes("Expect: 100-continue\r\n"));
      assert.ok(!names(serializeHead(req({ expectContinue: true }))).includes("expect"));
    });
    test("a caller's Expect is sent once, as given", () => {
      const head = serializeHead(
        req({
          method: "POST",
          expectContinue: true,
          framing: { kind: "length", length: 1 },
          headers: new Headers({ expect: "100-continue" }),
        }),
      );
      assert.deepEqual(
        parseHead(head).fields.filter(([n]) => n.toLowerCase() === "expect"),
        [["expect", "100-continue"]],
      );
    });
  });

  test("Accept-Encoding from the transport, unless the caller set one", () => {
    assert.ok(serializeHead(req({ acceptEncoding: "gzip, br" })).includes("Accept-Encoding: gzip, br\r\n"));
    const head = serializeHead(
      req({ acceptEncoding: "gzip", headers: new Headers({ "Accept-Encoding": "identity" }) }),
    );
    assert.deepEqual(
      parseHead(head).fields.filter(([n]) => n.toLowerCase() === "accept-encoding"),
      [["Accept-Encoding", "identity"]],
    );
  });

  test("multi-valued and set-cookie-like caller fields go out one line each, in order", () => {
    const h = new Headers([
      ["X-A", "1"],
      ["x-b", "2"],
      ["X-A", "3"],
      ["Cookie", "a=1"],
    ]);
    const fields = parseHead(serializeHead(req({ headers: h, userAgent: "" }))).fields.slice(1);
    assert.deepEqual(fields, [
      ["X-A", "1"],
      ["x-b", "2"],
      ["X-A", "3"],
      ["Cookie", "a=1"],
    ]);
  });

  test("the field hook sees every field line written, in order", () => {
    const seen: Array<[string, string[]]> = [];
    const r = req({
      method: "POST",
      headers: new Headers([["X-A", "1"]]),
      close: true,
      expectContinue: true,
      acceptEncoding: "gzip",
      framing: { kind: "chunked" },
    });
    const head = serializeHead(r, (name, values) => seen.push([name, values]));
    assert.deepEqual(
      seen.map(([n, v]): [string, string] => [n, v.join()]),
      parseHead(head).fields,
    );
  });

  describe("validation before any byte: ERR_INVALID_REQUEST", () => {
    const bad: Array<[string, Partial<RequestHead>]> = [
      ["CR LF in the method", { method: "GET\r\nX: y" }],
      ["NUL in the method", { method: "G\x00T" }],
      ["space in the method", { method: "GET /" }],
      ["empty method", { method: "" }],
      ["method above U+00FF", { method: "GЕT" }],
      ["CR LF in the target", { target: "/a\r\nX-Injected: 1" }],
      ["space in the target", { target: "/a b" }],
      ["NUL in the target", { target: "/\x00" }],
      ["obs-text in the target", { target: "/\xe9" }],
      ["empty target", { target: "" }],
      ["CR LF in the host", { host: "example.com\r\nX-Injected: 1" }],
      ["NUL in the host", { host: "example.com\x00" }],
      ["space in the host", { host: "example .com" }],
      ["obs-text in the host", { host: "ex\u00e4mple.com" }],
      ["host above U+00FF", { host: "ex\u0100mple.com" }],
      ["target above U+00FF", { target: "/\u0100" }],
      ["User-Agent above U+00FF", { userAgent: "ua/\u0100" }],
      ["empty host", { host: "" }],
      ["CR LF in the default User-Agent", { userAgent: "ua\r\nX: 1" }],
      ["LF in Accept-Encoding", { acceptEncoding: "gzip\n" }],
      ["negative body length", { framing: { kind: "length", length: -1 } }],
      ["fractional body length", { framing: { kind: "length", length: 1.5 } }],
    ];
    for (const [name, over] of bad) {
      test(name, () => {
        rejects(() => serializeHead(req(over)), "ERR_INVALID_REQUEST");
      });
    }

    test("validateMethod", () => {
      for (const m of ["GET", "M-SEARCH", "PROPFIND", "x!#$%&'*+-.^_`|~1"])
        assert.equal(validateMethod(m), m);
      // Non-standard methods go as given, whatever their case.
      for (const m of ["propfind", "Purge", "m-search", "gets", "POSTS"]) assert.equal(validateMethod(m), m);
      for (const m of ["", "GET ", "G\tT", "GET\r\n", "ĞET", "(GET)", 42]) {
        rejects(() => validateMethod(m as string), "ERR_INVALID_REQUEST");
      }
    });

    test("standard methods are upper-cased when they match case-insensitively (as got, axios and fetch do)", () => {
      const standard = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
      for (const m of standard) {
        for (const given of [
          m.toLowerCase(),
          m[0] + m.slice(1).toLowerCase(),
          m.toLowerCase().replace(/.$/, (c) => c.toUpperCase()),
        ]) {
          assert.equal(validateMethod(given), m, given);
        }
      }
    });

    test("header names and values are refused by Headers before they reach the serializer", () => {
      for (const [n, v] of [
        ["X-A\r\nX-B", "1"],
        ["X A", "1"],
        ["X:A", "1"],
        ["", "1"],
        ["X-\u0100", "1"],
        ["X-A", "1\r\nX-B: 2"],
        ["X-A", "1\n"],
        ["X-A", "\r1"],
        ["X-A", "a\x00b"],
        ["X-A", "a\u0100b"],
        ["X-A", "\u2028"],
      ]) {
        rejects(() => new Headers([[n!, v!]]), "ERR_INVALID_REQUEST");
      }
    });
  });

  test("property: whatever strings come in, the serializer refuses them or writes a well-formed head", () => {
    // Any UTF-16 string, biased toward the dangerous bytes.
    const nasty = fc.string({
      unit: fc.oneof(
        fc.constantFrom(
          "\r",
          "\n",
          "\x00",
          " ",
          "\t",
          ":",
          "\x7f",
          "\xff",
          "\u0100",
          "é",
          "/",
          "a",
          "Z",
          "-",
        ),
        fc.string({ minLength: 1, maxLength: 1, unit: "grapheme" }),
      ),
      maxLength: 12,
    });
    fc.assert(
      fc.property(nasty, nasty, nasty, nasty, nasty, (method, target, host, name, value) => {
        let head: string;
        try {
          head = serializeHead(req({ method, target, host, headers: new Headers([[name, value]]) }));
        } catch (err) {
          assert.ok(err instanceof RoundtripError && err.code === "ERR_INVALID_REQUEST", String(err));
          return;
        }
        const parsed = parseHead(head);
        assert.equal(parsed.method, method);
        assert.equal(parsed.target, target);
        assert.deepEqual(parsed.fields[0], ["Host", host]);
      }),
      { seed: 0x5eed, numRuns: 2000 },
    );
  });
});

describe("planFraming (every branch of its rule)", () => {
  type Expect = Framing | { error: string };
  const cases: Array<[string, string, number | null | undefined, Array<[string, string]>, Expect]> = [
    // name, method, bodyLength (undefined = no body, null = unknown), caller headers, result
    ["GET, no body: neither", "GET", undefined, [], { kind: "none" }],
    ["HEAD, no body: neither", "HEAD", undefined, [], { kind: "none" }],
    ["DELETE, no body: neither (as Go)", "DELETE", undefined, [], { kind: "none" }],
    ["POST, no body: Content-Length 0", "POST", undefined, [], { kind: "length", length: 0 }],
    ["PUT, no body: Content-Length 0", "PUT", undefined, [], { kind: "length", length: 0 }],
    ["PATCH, no body: Content-Length 0", "PATCH", undefined, [], { kind: "length", length: 0 }],
    ["methods are case-sensitive: post is not POST", "post", undefined, [], { kind: "none" }],
    ["GET, empty body: neither", "GET", 0, [], { kind: "none" }],
    ["POST, empty body: Content-Length 0", "POST", 0, [], { kind: "length", length: 0 }],
    ["known length", "POST", 10, [], { kind: "length", length: 10 }],
    ["known length on GET", "GET", 3, [], { kind: "length", length: 3 }],
    ["unknown length: chunked", "POST", null, [], { kind: "chunked" }],
    [
      "caller chunked is honoured over a known length",
      "POST",
      10,
      [["Transfer-Encoding", "chunked"]],
      { kind: "chunked" },
    ],
    ["caller Chunked, any case", "POST", null, [["transfer-encoding", "Chunked"]], { kind: "chunked" }],
    [
      "caller chunked without a body",
      "GET",
      undefined,
      [["Transfer-Encoding", "chunked"]],
      { kind: "chunked" },
    ],
    ["caller gzip: refused", "POST", 10, [["Transfer-Encoding", "gzip"]], { error: "ERR_INVALID_REQUEST" }],
    [
      "caller gzip, chunked: refused",
      "POST",
      10,
      [["Transfer-Encoding", "gzip, chunked"]],
      { error: "ERR_INVALID_REQUEST" },
    ],
    [
      "caller chunked on two lines: refused",
      "POST",
      10,
      [
        ["Transfer-Encoding", "chunked"],
        ["Transfer-Encoding", "chunked"],
      ],
      { error: "ERR_INVALID_REQUEST" },
    ],
    [
      "caller identity: refused",
      "POST",
      10,
      [["Transfer-Encoding", "identity"]],
      { error: "ERR_INVALID_REQUEST" },
    ],
    [
      "caller chunked and Content-Length: refused",
      "POST",
      null,
      [
        ["Transfer-Encoding", "chunked"],
        ["Content-Length", "3"],
      ],
      { error: "ERR_INVALID_REQUEST" },
    ],
    [
      "caller Content-Length equal to the body",
      "POST",
      3,
      [["Content-Length", "3"]],
      { kind: "length", length: 3 },
    ],
    ["caller Content-Length with OWS", "POST", 3, [["Content-Length", " 3 "]], { kind: "length", length: 3 }],
    [
      "caller Content-Length unlike the body",
      "POST",
      4,
      [["Content-Length", "3"]],
      { error: "ERR_REQUEST_BODY" },
    ],
    [
      "caller Content-Length declares an unknown length",
      "POST",
      null,
      [["Content-Length", "7"]],
      { kind: "length", length: 7 },
    ],
    [
      "caller Content-Length 0, no body",
      "GET",
      undefined,
      [["Content-Length", "0"]],
      { kind: "length", length: 0 },
    ],
    [
      "caller Content-Length 5, no body",
      "GET",
      undefined,
      [["Content-Length", "5"]],
      { error: "ERR_REQUEST_BODY" },
    ],
    [
      "caller Content-Length twice, same value",
      "POST",
      3,
      [
        ["Content-Length", "3"],
        ["content-length", "3"],
      ],
      { kind: "length", length: 3 },
    ],
    [
      "caller Content-Length twice, different values",
      "POST",
      3,
      [
        ["Content-Length", "3"],
        ["Content-Length", "4"],
      ],
      { error: "ERR_INVALID_REQUEST" },
    ],
    ["caller Content-Length +3", "POST", 3, [["Content-Length", "+3"]], { error: "ERR_INVALID_REQUEST" }],
    ["caller Content-Length -1", "POST", null, [["Content-Length", "-1"]], { error: "ERR_INVALID_REQUEST" }],
    ["caller Content-Length 3, 3", "POST", 3, [["Content-Length", "3, 3"]], { error: "ERR_INVALID_REQUEST" }],
    [
      "caller Content-Length too large",
      "POST",
      null,
      [["Content-Length", "9".repeat(16)]],
      { error: "ERR_INVALID_REQUEST" },
    ],
  ];
  for (const [name, method, bodyLength, fields, want] of cases) {
    test(name, () => {
      const headers = fields.length ? new Headers(fields) : null;
      if ("error" in want) rejects(() => planFraming(method, bodyLength, headers), want.error);
      else assert.deepEqual(planFraming(method, bodyLength, headers), want);
    });
  }

  test("an empty Headers is the same as none", () => {
    assert.deepEqual(planFraming("POST", null, new Headers()), { kind: "chunked" });
  });
});

describe("chunks", () => {
  test("chunkHeader is lower-case hex", () => {
    assert.equal(chunkHeader(1), "1\r\n");
    assert.equal(chunkHeader(255), "ff\r\n");
    assert.equal(chunkHeader(0x10000), "10000\r\n");
  });
  test("lastChunk with and without trailers", () => {
    assert.equal(lastChunk(null), "0\r\n\r\n");
    assert.equal(lastChunk(new Headers()), "0\r\n\r\n");
    assert.equal(
      lastChunk(
        new Headers([
          ["X-Sum", "abc"],
          ["x-more", "1"],
        ]),
      ),
      "0\r\nX-Sum: abc\r\nx-more: 1\r\n\r\n",
    );
  });
});

describe("property: planFraming + serializeHead agree with the rule", () => {
  const callerField = fc.oneof(
    fc.constantFrom<[string, string]>(
      ["Host", "other.example"],
      ["Content-Length", "5"],
      ["Content-Length", "0"],
      ["Transfer-Encoding", "chunked"],
      ["Transfer-Encoding", "gzip"],
      ["Connection", "keep-alive"],
      ["Connection", "close"],
      ["Connection", "upgrade"],
      ["User-Agent", ""],
      ["User-Agent", "mine/2"],
      ["Expect", "100-continue"],
      ["Accept-Encoding", "identity"],
    ),
    fc.tuple(
      fc.stringMatching(/^X-[A-Za-z0-9-]{1,8}$/),
      fc.stringMatching(/^[\x21-\x7e](?:[\x20-\x7e]{0,10}[\x21-\x7e])?$/),
    ),
  );
  test("request heads", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "M-SEARCH"),
        fc.option(fc.option(fc.nat({ max: 1 << 20 }), { nil: null }), { nil: undefined }),
        fc.array(callerField, { maxLength: 6 }),
        fc.record({
          close: fc.boolean(),
          expectContinue: fc.boolean(),
          acceptEncoding: fc.option(fc.constant("gzip")),
        }),
        (method, bodyLength, fields, opts) => {
          const headers = new Headers(fields);
          let framing: Framing;
          try {
            framing = planFraming(method, bodyLength, headers);
          } catch (err) {
            assert.ok(err instanceof RoundtripError, String(err));
            assert.ok(["ERR_INVALID_REQUEST", "ERR_REQUEST_BODY"].includes(err.code), err.code);
            return;
          }
          const head = serializeHead(req({ method, headers, framing, ...opts }));
          const got = parseHead(head).fields;
          const lower = (n: string) => got.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
          const callerHas = (n: string, v?: string) =>
            fields.some(([k, x]) => k.toLowerCase() === n && (v === undefined || x.toLowerCase() === v));
          assert.deepEqual(got[0], ["Host", "example.com"]);
          assert.equal(lower("host").length, 1);
          // Exactly the planned framing, never both fields.
          assert.deepEqual(
            lower("content-length"),
            framing.kind === "length" ? [String(framing.length)] : [],
          );
          assert.deepEqual(lower("transfer-encoding"), framing.kind === "chunked" ? ["chunked"] : []);
          // User-Agent: the caller's non-empty ones, else ours unless the caller gave "".
          const callerUA = fields.filter(([k]) => k.toLowerCase() === "user-agent").map(([, v]) => v);
          assert.deepEqual(lower("user-agent"), callerUA.length ? callerUA.filter((v) => v !== "") : [UA]);
          // Connection: close goes out iff asked (by option or caller); keep-alive never with it.
          const conn = lower("connection").join(",").toLowerCase();
          assert.equal(conn.includes("close"), opts.close || callerHas("connection", "close"));
          if (opts.close) assert.ok(!conn.includes("keep-alive"), conn);
          if (callerHas("connection", "upgrade")) assert.ok(conn.includes("upgrade"));
          // Expect: the caller's lines, else ours when asked and there is a body.
          const callerExpect = fields.filter(([k]) => k.toLowerCase() === "expect").map(([, v]) => v);
          assert.deepEqual(
            lower("expect"),
            callerExpect.length
              ? callerExpect
              : opts.expectContinue && framing.kind !== "none"
                ? ["100-continue"]
                : [],
          );
          // Accept-Encoding: the caller's lines, else the transport's.
          const callerAE = fields.filter(([k]) => k.toLowerCase() === "accept-encoding").map(([, v]) => v);
          assert.deepEqual(
            lower("accept-encoding"),
            callerAE.length ? callerAE : opts.acceptEncoding === null ? [] : [opts.acceptEncoding],
          );
        },
      ),
      { seed: 0x5eed, numRuns: 1500 },
    );
  });
});
