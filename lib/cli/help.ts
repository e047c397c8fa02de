import { COMMANDS, GLOBAL_FLAGS, type CommandSpec, type FlagSpec } from './commands.js';

function flagLines(flags: readonly FlagSpec[]): string[] {
  const left = flags.map((f) => {
    const names = (f.short ? `-${f.short}, ` : '    ') + `--${f.name}`;
    return f.value ? `${names} ${f.value}` : names;
  });
  const width = Math.max(...left.map((l) => l.length));
  return flags.map((f, i) => {
    const def = f.default !== undefined && f.kind !== 'bool' ? ` (default: ${f.default})` : '';
    return `  ${left[i]!.padEnd(width)}   ${f.help}${def}`;
  });
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'tsbox: an OCI container runtime (runc-compatible command line)',
    '',
    'Usage: tsbox [global flags] COMMAND [flags] [arguments]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'Global flags:',
    ...flagLines(GLOBAL_FLAGS),
    '',
    'Run "tsbox COMMAND --help" for the flags of a command.',
    '',
  ].join('\n');
}

export function commandHelp(c: CommandSpec): string {
  return [
    `Usage: tsbox ${c.name} [flags]${c.args ? ` ${c.args}` : ''}`,
    '',
    `${c.summary.charAt(0).toUpperCase()}${c.summary.slice(1)}.`,
    ...(c.description ? ['', c.description] : []),
    '',
    'Flags:',
    ...flagLines([...c.flags, { name: 'help', short: 'h', kind: 'bool', help: 'show this help' }]),
    '',
  ].join('\n');
}
