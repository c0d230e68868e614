/**
 * Command-line tokenizing shared by the three commands: flags as curl and xh spell them
 * (`-X POST`, `-XPOST`, `--request POST`, `--request=POST`, bundled booleans `-kL`, `--`
 * ending the flags) and positionals anywhere between them. What a flag means is the
 * caller's business; this module only knows which flags take a value.
 */

/** A usage mistake: printed with a hint to --help, exit code 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

export interface FlagSpec {
  /** Key the value is stored under. */
  key: string;
  /** Single letters (`X`) and long names (`request`), without dashes. */
  names: string[];
  /** Takes a value (the next argument, or after `=`, or glued to a short flag). */
  value?: boolean;
  /** `--pretty` alone or `--pretty=all`: a value only when given with `=`. */
  optionalValue?: boolean;
}

export interface ParsedArgs {
  /** Every occurrence in order; booleans are stored as "". */
  flags: Map<string, string[]>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map<string, FlagSpec>();
  for (const s of specs) for (const n of s.names) byName.set(n, s);
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const put = (spec: FlagSpec, value: string) => {
    const list = flags.get(spec.key);
    if (list) list.push(value);
    else flags.set(spec.key, [value]);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const spec = byName.get(name);
      if (spec === undefined || name.length < 2) throw new UsageError(`unknown option --${name}`);
      if (spec.value) {
        if (eq >= 0) put(spec, arg.slice(eq + 1));
        else if (i + 1 < argv.length) put(spec, argv[++i]!);
        else throw new UsageError(`option --${name} needs a value`);
      } else if (eq >= 0) {
        if (!spec.optionalValue) throw new UsageError(`option --${name} takes no value`);
        put(spec, arg.slice(eq + 1));
      } else {
        put(spec, "");
      }
      continue;
    }
    // A lone "-" is a positional (stdin, in curl's and xh's conventions); so is anything
    // not starting with a dash.
    if (!arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    // Short flags, possibly bundled (-kL) or with a glued value (-XPOST, -n100).
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!;
      const spec = byName.get(letter);
      if (spec === undefined) throw new UsageError(`unknown option -${letter}`);
      if (!spec.value) {
        put(spec, "");
        continue;
      }
      const rest = arg.slice(j + 1);
      if (rest !== "") put(spec, rest);
      else if (i + 1 < argv.length) put(spec, argv[++i]!);
      else throw new UsageError(`option -${letter} needs a value`);
      break;
    }
  }
  return { flags, positionals };
}

/** The last value given for `key` (later flags win, as in curl), or undefined. */
export function last(args: ParsedArgs, key: string): string | undefined {
  const list = args.flags.get(key);
  return list === undefined ? undefined : list[list.length - 1];
}

export function has(args: ParsedArgs, key: string): boolean {
  return args.flags.has(key);
}

export function all(args: ParsedArgs, key: string): string[] {
  return args.flags.get(key) ?? [];
}

/** A count or size: a non-negative integer, else a UsageError naming the flag. */
export function nonNegativeInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new UsageError(`${flag} wants a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${flag} is too large: ${value}`);
  return n;
}

/** Seconds as curl takes them (`--max-time 2.5`), returned in ms. */
export function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(value)) {
    throw new UsageError(`${flag} wants seconds (e.g. 2 or 0.5), got ${JSON.stringify(value)}`);
  }
  return Number(value) * 1000;
}

/**
 * A duration as load tools take them: `10s`, `500ms`, `1m`, `1.5h`; a bare number is
 * seconds. Returned in ms.
 */
export function duration(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value);
  if (m === null)
    throw new UsageError(`${flag} wants a duration (e.g. 10s, 500ms, 1m), got ${JSON.stringify(value)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Number(m[1]) * unit;
}
