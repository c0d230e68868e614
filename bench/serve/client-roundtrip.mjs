// Downloads a URL once with roundtrip's Client and discards the body:
// `node client-roundtrip.mjs <url>` prints {"bytes":N,"wallS":S,"cpuS":S}.

const { Client, Transport } = await import(new URL("../../dist/index.js", import.meta.url).href);

const url = process.argv[2];
const transport = new Transport();
const client = new Client({ transport });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const res = await client.request(url);
let bytes = 0;
for await (const chunk of res.body) bytes += chunk.length;
const wallS = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
await transport.close();
console.log(JSON.stringify({ status: res.status, bytes, wallS, cpuS: (cpu.user + cpu.system) / 1e6 }));
