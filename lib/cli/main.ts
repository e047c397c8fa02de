import { TsboxError } from '../errors.js';
import { findCommand, GLOBAL_FLAGS } from './commands.js';
import type { CommandHandler } from './context.js';
import { Logger } from './log.js';
import { parseFlags, UsageError } from './parse.js';
import { writeStdout } from './output.js';

function version(): string {
  const { version } = require('../../package.json') as { version: string };
  const { OCI_VERSION } = require('../oci/version.js') as typeof import('../oci/version.js');
  return `tsbox version ${version}\nspec: ${OCI_VERSION}\nnode: ${process.version}\n`;
}

/**
 * The CLI: parses global flags, finds the command, loads only that
 * command's module (start-up time is paid on every call), runs it.
 * Returns the exit status.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let log = new Logger(undefined, 'text', false);
  try {
    const globals = parseFlags(argv, GLOBAL_FLAGS);
    const g = globals.flags;
    const format = g['log-format'];
    if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format must be text or json, got "${format}"`);
    log = new Logger(g.log as string | undefined, format, g.debug === true);
    if (g.version) {
      writeStdout(version());
      return 0;
    }
    const [name, ...rest] = globals.rest;
    if (g.help || name === undefined || name === 'help') {
      writeStdout((require('./help.js') as typeof import('./help.js')).mainHelp());
      return name === undefined && !g.help ? 1 : 0;
    }
    const spec = findCommand(name);
    if (!spec) throw new UsageError(`unknown command "${name}"`);
    const parsed = parseFlags(rest, [...spec.flags, { name: 'help', short: 'h', kind: 'bool', help: '' }], name);
    if (parsed.flags.help) {
      writeStdout((require('./help.js') as typeof import('./help.js')).commandHelp(spec));
      return 0;
    }
    const { command } = require(`./commands/${name}.js`) as { command: CommandHandler };
    return await command({ globals: g, flags: parsed.flags, args: parsed.rest, log });
  } catch (err) {
    return failed(err, log);
  } finally {
    log.flush();
  }
}

/** The exit status for an error, after telling about it. */
function failed(err: unknown, log: Logger): number {
  if (err instanceof UsageError) {
    log.error(`${err.message} (see tsbox ${err.command ? `${err.command} ` : ''}--help)`);
  } else if (err instanceof TsboxError || (err instanceof Error && 'syscall' in err && 'code' in err)) {
    // Failed system calls from the addon carry syscall and code: known
    // failures with a one-line message, like tsbox's own errors.
    log.error(err.message);
  } else {
    // Not an error tsbox expected: keep the stack, it is a bug.
    log.error(`internal error: ${(err as Error)?.stack ?? String(err)}`);
  }
  return 1;
}
