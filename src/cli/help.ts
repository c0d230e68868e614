/** The --help texts; docs/cli.md has the long form. */

export const REQUEST_HELP = `Usage: roundtrip [METHOD] URL [ITEM...] [OPTIONS]
       roundtrip bench URL [OPTIONS]      load test (roundtrip bench --help)
       roundtrip serve [DIR] [OPTIONS]    static file server (roundtrip serve --help)

Request items (xh / HTTPie):
  Name:value  header          Name:  drop a default header     Name;  empty header
  q==v        query param     k=v    JSON string field          k:=1   raw JSON field
  k=@file     field from file k:=@f  JSON from file
  f@path      file field (multipart, streamed; f@path;type=image/png)
  @path       raw body streamed from a file (@- for stdin)
  :3000/x     http://localhost:3000/x; a URL without a scheme gets http://
  METHOD defaults to GET, or POST when there is data.

curl options (curl's meaning):
  -X, --request METHOD       -H, --header "Name: value"   -A, --user-agent UA
  -d, --data DATA            --data-raw DATA              --data-binary DATA|@file
  -F, --form name=value|name=@file[;type=mime]            -u, --user user:password
  -o, --output FILE          -L, --location               --max-redirs N (default 50, -1 = no limit)
  -k, --insecure             --cacert FILE                -x, --proxy URL ("" = none)
  --connect-timeout SECONDS  -m, --max-time SECONDS       --compressed (default) / --no-compressed
  -4, -6                     --unix-socket PATH           --http1.1 (default) / --http2
  -i, --include              -I, --head                   -v, --verbose (heads on stderr)
  -s, --silent               -S, --show-error             -w, --write-out FORMAT (curl's variables)

roundtrip options:
  --timings                  phase waterfall on stderr (DNS, connect, TLS, send, wait, transfer,
                             connection reuse, 1xx, retries, redirects hop by hop, proxy tunnel)
  --format json              the whole exchange as JSON on stdout
  -p, --print HBhb           what to print: H request head, B request body, h response head, b body
  --pretty all|colors|format|none   (default: all on a terminal, none when piped; NO_COLOR respected)
  --urlencoded, --multipart  send k=v items as a form instead of JSON
  --check-status             exit 3/4/5 on an unfollowed 3xx / 4xx / 5xx
  --curl                     print the equivalent curl command, send nothing
  -h, --help                 -V, --version

Exit codes: 0 ok, 1 error, 2 timeout, 3/4/5 with --check-status, 6 too many redirects, 130 interrupted.
`;

export const BENCH_HELP = `Usage: roundtrip bench URL [OPTIONS]

  -n N               requests to send (default 200; ignored with -z)
  -c N               concurrent connections (default 50)
  -z DURATION        run for a time instead: 10s, 500ms, 1m
  -q RATE            total requests per second (open loop: latency from the scheduled time)
  -m, --method M     method (default GET)
  -H "Name: value"   header (repeatable)
  -d DATA|@file      request body (method defaults to POST)
  -t, --timeout S    per-request timeout in seconds (default 20)
  --http2            allow HTTP/2 (ALPN, https only); -c is then concurrent streams
  --disable-keepalive  a new connection per request
  -k, --insecure     accept any TLS certificate
  --threads N        split the load over N worker threads (default 1), each with its own Transport
  --json             oha's JSON shape, plus a "pool" section
  --no-progress      no live line on stderr
`;

export const SERVE_HELP = `Usage: roundtrip serve [DIR] [OPTIONS]

Serves DIR (default .) with serveFile: sendfile(2), ranges, conditional requests,
index.html, directory listings. Nothing outside DIR is served ("..", "%2e%2e" and
symlinks leading out are refused).

  --port N        port (default 8000; 0 = any free port)
  --host ADDR     address to listen on (default 127.0.0.1)
  --no-listing    answer 404 for directories without index.html
  -q, --quiet     no access log
`;
