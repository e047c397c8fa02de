import { TsboxError } from '../errors.js';
import type { FlagSpec } from './commands.js';

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  /** Arguments after the flags (flags end at the first non-flag, as in runc). */
  rest: string[];
}

/** A usage error: the CLI prints it with a pointer to --help. */
export class UsageError extends TsboxError {
  override name = 'UsageError';
  /** The command whose help to point at; none for global usage. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(command ? `${command}: ${message}` : message);
    this.command = command;
  }
}

/**
 * Parses flags until the first positional argument or `--`. Accepts
 * `--flag value`, `--flag=value`, `-f value`, `-f=value`, and the single-dash
 * long form `-flag` that runc (through Go's flag package) accepts too.
 */
export function parseFlags(argv: readonly string[], specs: readonly FlagSpec[], command?: string): Parsed {
  const flags: FlagValues = {};
  for (const spec of specs) {
    if (spec.default !== undefined) flags[spec.name] = spec.default;
    if (spec.kind === 'list') flags[spec.name] = [];
  }
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.length < 2 || arg[0] !== '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = specs.find((s) => s.name === name || s.short === name);
    if (!spec) throw new UsageError(`unknown flag "${arg.slice(0, arg.length - body.length)}${name}"`, command);
    let value: string | undefined = eq < 0 ? undefined : body.slice(eq + 1);
    if (spec.kind === 'bool') {
      if (value === undefined) flags[spec.name] = true;
      else if (value === 'true' || value === 'false') flags[spec.name] = value === 'true';
      else throw new UsageError(`flag --${spec.name} takes true or false, got "${value}"`, command);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`flag --${spec.name} needs a value`, command);
      value = argv[++i]!;
    }
    if (spec.kind === 'number') {
      if (!/^\d+$/.test(value)) throw new UsageError(`flag --${spec.name} takes a whole number, got "${value}"`, command);
      flags[spec.name] = Number(value);
    } else if (spec.kind === 'list') {
      (flags[spec.name] as string[]).push(value);
    } else {
      flags[spec.name] = value;
    }
  }
  return { flags, rest: argv.slice(i) };
}
