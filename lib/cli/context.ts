import type { Logger } from './log.js';
import type { FlagValues } from './parse.js';

/** What a command handler gets: its parsed flags and arguments, and the logger. */
export interface CommandContext {
  globals: FlagValues;
  flags: FlagValues;
  args: string[];
  log: Logger;
}

/** A command module exports `command`; it returns the process exit status. */
export type CommandHandler = (ctx: CommandContext) => Promise<number>;
