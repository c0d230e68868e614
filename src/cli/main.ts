#!/usr/bin/env node
/**
 * The `roundtrip` command: `roundtrip bench …`, `roundtrip serve …`, or a request
 * (`roundtrip [METHOD] URL [ITEM…]`). Each subcommand parses its own flags; this file
 * only dispatches and turns a usage mistake into a message and exit code 1.
 */
import { VERSION } from "../index.js";
import { UsageError } from "./args.js";
import { parseBenchCommand, runBench } from "./bench.js";
import { EXIT } from "./exit-codes.js";
import { BENCH_HELP, REQUEST_HELP, SERVE_HELP } from "./help.js";
import { runRequest, type Streams } from "./request.js";
import { parseRequestCommand } from "./request-args.js";
import { parseServeCommand, runServe } from "./serve.js";

function say(s: Streams, text: string): number {
  s.stdout.write(text);
  return EXIT.ok;
}

async function main(argv: string[], s: Streams): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    s.stderr.write(REQUEST_HELP);
    return EXIT.error;
  }
  if (command === "bench") {
    const parsed = parseBenchCommand(rest);
    if (parsed.kind === "help") return say(s, BENCH_HELP);
    return runBench(parsed.options, s);
  }
  if (command === "serve") {
    const parsed = parseServeCommand(rest);
    if (parsed.kind === "help") return say(s, SERVE_HELP);
    return runServe(parsed.options, s);
  }
  const parsed = parseRequestCommand(argv);
  if (parsed.kind === "help") return say(s, REQUEST_HELP);
  if (parsed.kind === "version") return say(s, `roundtrip ${VERSION}\n`);
  return runRequest(parsed.plan, s);
}

const streams: Streams = { stdout: process.stdout, stderr: process.stderr, env: process.env };
// stdout closed by its reader (`roundtrip URL | head`): stop writing, nothing more to say.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
});

main(process.argv.slice(2), streams).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`roundtrip: ${err.message}\n(see roundtrip --help)\n`);
    } else {
      process.stderr.write(`roundtrip: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = EXIT.error;
  },
);
