// Load for bench/serve/small.mjs: `node small-load.mjs <url> <seconds> <concurrency>`
// downloads <url> over and over with roundtrip's Transport from <concurrency> loops on
// pooled keep-alive connections, reading every body to the end, until <seconds> have
// passed; prints {"requests":N,"bytes":N,"seconds":S}.

const { Client, Transport } = await import(new URL("../../dist/index.js", import.meta.url).href);

const [url, secondsArg, concurrencyArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
const concurrency = Number(concurrencyArg);
const transport = new Transport({ maxConnsPerHost: concurrency, maxIdleConnsPerHost: concurrency });
const client = new Client({ transport });
let requests = 0;
let bytes = 0;
const t0 = performance.now();
const end = t0 + seconds * 1000;
async function loop() {
  while (performance.now() < end) {
    const res = await client.request(url);
    if (res.status !== 200) throw new Error(`status ${res.status}`);
    for await (const chunk of res.body) bytes += chunk.length;
    requests++;
  }
}
await Promise.all(Array.from({ length: concurrency }, loop));
const elapsed = (performance.now() - t0) / 1000;
await transport.close();
console.log(JSON.stringify({ requests, bytes, seconds: elapsed }));
