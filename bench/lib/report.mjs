// Turns raw per-run results into medians with min–max spreads, ratios, and Markdown.

import { summarize } from "./stats.mjs";

const RPS_METRICS = ["rps", "cpuUsPerReq", "p50Us", "p99Us", "maxRssKiB", "connections"];
const BULK_METRICS = ["wallS", "cpuS", "maxRssKiB", "connections"];

/** rows: [{ client, runs: [result...] }] → adds `summary`, `error`, `ratios`. */
export function aggregate(scenario, rows) {
  const metrics = scenario.kind === "rps" ? RPS_METRICS : BULK_METRICS;
  for (const row of rows) {
    const ok = row.runs.filter((r) => !r.error);
    const failed = row.runs.filter((r) => r.error);
    row.okRuns = ok.length;
    if (ok.length === 0) {
      row.error = failed[0]?.error ?? "not run";
      row.summary = null;
      continue;
    }
    if (failed.length) row.note = `${failed.length} of ${row.runs.length} runs failed: ${failed[0].error}`;
    row.summary = {};
    for (const m of metrics) row.summary[m] = summarize(ok.map((r) => r[m]));
    const extra = ok.find((r) => r.extra)?.extra;
    if (extra) row.extra = extra;
  }
  const med = (client, m) => rows.find((r) => r.client === client)?.summary?.[m]?.median ?? null;
  for (const row of rows) {
    if (!row.summary) continue;
    if (scenario.kind === "rps") {
      const mine = row.summary.rps.median;
      const u = med("undici.request", "rps");
      const f = med("floor", "rps");
      row.ratios = { undiciRequest: u ? mine / u : null, floor: f ? mine / f : null };
    } else {
      // For big transfers the interesting ratio is CPU spent, lower is better.
      const u = med("undici.request", "cpuS");
      const mine = row.summary.cpuS?.median;
      row.ratios = { undiciRequestCpu: u && typeof mine === "number" ? mine / u : null };
    }
  }
  return rows;
}

const int = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));
const fix = (n, d) => (n === null || n === undefined ? "–" : n.toFixed(d));
const mib = (kib) => (kib === null || kib === undefined ? "–" : (kib / 1024).toFixed(0));
const ratio = (r) => (r === null || r === undefined ? "–" : `${r.toFixed(2)}×`);
const spread = (s, f) => (s.n > 1 ? ` (${f(s.min)}–${f(s.max)})` : "");
const cell = (s) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");

export function scenarioMarkdown(scenario, rows) {
  const out = [];
  const c = scenario.concurrency ? `, c=${scenario.concurrency}` : "";
  out.push(`### ${scenario.id}: ${scenario.title}${c}`, "");
  if (scenario.kind === "rps") {
    out.push(
      "| client | req/s (min–max) | CPU µs/req | p50 µs | p99 µs | peak RSS MiB | conns | × undici.request | × floor |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of rows) {
      if (!r.summary) {
        out.push(`| ${r.client} | unavailable: ${cell(r.error)} | | | | | | | |`);
        continue;
      }
      const s = r.summary;
      out.push(
        `| ${r.client} | ${int(s.rps.median)}${spread(s.rps, int)} | ${fix(s.cpuUsPerReq.median, 1)} | ` +
          `${int(s.p50Us?.median)} | ${int(s.p99Us?.median)} | ${mib(s.maxRssKiB.median)} | ` +
          `${int(s.connections?.median)} | ${ratio(r.ratios.undiciRequest)} | ${ratio(r.ratios.floor)} |`,
      );
    }
  } else {
    const size =
      scenario.size >= 1024 ** 3
        ? `${+(scenario.size / 1024 ** 3).toFixed(2)} GiB`
        : `${+(scenario.size / 1024 ** 2).toFixed(1)} MiB`;
    out.push(
      `Transfer size ${size}.`,
      "",
      "| client | wall s (min–max) | CPU s (min–max) | peak RSS MiB (min–max) | CPU × undici.request | conns |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const r of rows) {
      if (!r.summary) {
        out.push(`| ${r.client} | unavailable: ${cell(r.error)} | | | | |`);
        continue;
      }
      const s = r.summary;
      const f2 = (n) => fix(n, 2);
      const m = (x, f) => (x ? `${f(x.median)}${spread(x, f)}` : "–");
      out.push(
        `| ${r.client} | ${m(s.wallS, f2)} | ${m(s.cpuS, f2)} | ${m(s.maxRssKiB, mib)} | ` +
          `${ratio(r.ratios.undiciRequestCpu)} | ${int(s.connections?.median)} |`,
      );
    }
  }
  // Say when the figures may be disturbed: a busy server, or other work on the machine.
  const all = rows.flatMap((r) => r.runs.filter((x) => !x.error));
  const serverMax = Math.max(0, ...all.map((x) => x.serverUtil ?? 0));
  const bg = all.map((x) => x.backgroundCores).filter((x) => typeof x === "number");
  const bgMed = bg.length ? bg.sort((a, b) => a - b)[bg.length >> 1] : null;
  if (scenario.kind === "rps" && serverMax > 0.9) {
    out.push(
      "",
      `- The server reached ${Math.round(serverMax * 100)}% of its core in some run: it may have been the bottleneck.`,
    );
  } else if (scenario.kind !== "rps" && serverMax > 0.75) {
    out.push(
      "",
      `- The server used up to ${Math.round(serverMax * 100)}% of its core: the fastest clients' wall times are ` +
        "bounded by it (their CPU and RSS are not).",
    );
  }
  if (bgMed !== null && bgMed > 0.25) {
    out.push(
      "",
      `- Other work used ${bgMed.toFixed(2)} cores (median) of the machine during these runs: figures are disturbed.`,
    );
  }
  const showZeroCopy = scenario.kind === "upload" || scenario.kind === "multipart";
  const notes = rows.filter((r) => r.note || (showZeroCopy && r.extra?.zeroCopy));
  for (const r of notes) {
    if (r.note) out.push("", `- ${r.client}: ${cell(r.note)}`);
    if (showZeroCopy && r.extra?.zeroCopy)
      out.push("", `- ${r.client}: zeroCopy = ${JSON.stringify(r.extra.zeroCopy)}`);
  }
  out.push("");
  return out.join("\n");
}

export function headerMarkdown(meta) {
  const v = meta.versions;
  return [
    `## roundtrip benchmark — ${meta.date}${meta.quick ? " (--quick smoke run: not representative)" : ""}`,
    "",
    `- Machine: ${meta.machine.cpu}, ${meta.machine.cores} cores, ${meta.machine.memGiB} GiB, ${meta.machine.os}`,
    `- Node ${v.node}; roundtrip ${v.roundtrip}; undici ${v.undici}; got ${v.got}; axios ${v.axios}; ${v.curl ?? "curl: not installed"}`,
    `- Server: ${meta.server.kind} ${meta.server.version} on 127.0.0.1; ${meta.pinning}; ` +
      `TCP congestion control ${meta.tcpCongestion ?? "unknown"}`,
    `- ${meta.runs} run(s) per client, median shown (min–max when runs > 1); each run in a fresh process: ` +
      `${meta.warmupMs} ms warm-up, then at most ${meta.durationMs} ms or ${meta.count.toLocaleString("en-US")} requests`,
    `- Build: ${meta.build.message}`,
    "",
  ].join("\n");
}
