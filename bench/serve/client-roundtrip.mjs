// Downloads a URL once with roundtrip's Client and discards the body:
// `node client-roundtrip.mjs <url>` prints {"status":N,"bytes":N,"wallS":S,"userS":S,"sysS":S,
// "processCpuS":S,"placement":[...]}, the last being every thread of this process with its allowed CPUs and
// the CPU it last ran on, read after the download (so libuv's pool threads are included).

import { threadPlacement } from "./proc.mjs";

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
const total = process.cpuUsage(); // since start: what the runner's background figure must subtract
const placement = threadPlacement(process.pid);
await transport.close();
console.log(
  JSON.stringify({
    status: res.status,
    bytes,
    wallS,
    userS: cpu.user / 1e6,
    sysS: cpu.system / 1e6,
    processCpuS: (total.user + total.system) / 1e6,
    placement,
  }),
);
