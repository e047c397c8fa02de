/**
 * Every command and flag of the CLI, as data: the parser, the help text and
 * the dispatcher all read this table. Names, short forms and defaults follow
 * runc's, so that engines written for runc can call tsbox unchanged.
 *
 * Keep this module free of imports: it is loaded on every CLI call.
 */

export type FlagKind = 'string' | 'bool' | 'number' | 'list';

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  /** Placeholder shown in help, e.g. DIR. */
  value?: string;
  default?: string | number | boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** Positional arguments, as shown in help. */
  args: string;
  summary: string;
  /** More help, shown by `tsbox COMMAND --help`. */
  description?: string;
  flags: FlagSpec[];
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', kind: 'string', value: 'DIR', default: '/run/tsbox', help: 'directory for container state' },
  { name: 'log', kind: 'string', value: 'FILE', help: 'also write log messages (errors, warnings) to FILE' },
  { name: 'log-format', kind: 'string', value: 'text|json', default: 'text', help: 'format of the messages written to --log' },
  { name: 'debug', kind: 'bool', help: 'log debug messages' },
  { name: 'systemd-cgroup', kind: 'bool', help: 'manage cgroups through systemd (not supported by tsbox)' },
  { name: 'rootless', kind: 'string', value: 'true|false|auto', default: 'auto', help: 'ignore cgroup permission errors' },
  { name: 'help', short: 'h', kind: 'bool', help: 'show help' },
  { name: 'version', short: 'v', kind: 'bool', help: 'print the version' },
];

const BUNDLE: FlagSpec = {
  name: 'bundle',
  short: 'b',
  kind: 'string',
  value: 'DIR',
  help: 'path to the bundle directory (default: the current directory)',
};

export const COMMANDS: CommandSpec[] = [
  {
    name: 'run',
    args: '[BUNDLE-DIR | ID]',
    summary: 'create and run a container, and wait for it to exit',
    description: [
      'Two forms:',
      '  tsbox run BUNDLE-DIR          run the bundle in BUNDLE-DIR under a generated id',
      '  tsbox run [-b DIR] ID         run the bundle in DIR (default: .) as container ID (runc\'s form)',
      'The argument is taken as a bundle directory when --bundle is not given and it',
      'contains a "/", is "." or "..", or is a directory holding a config.json.',
      'The exit status is the container process\'s: its exit code, or 128 + the signal',
      'that killed it. SIGINT, SIGTERM, SIGHUP and other signals sent to tsbox are',
      'forwarded to the container. Errors of tsbox itself exit with status 1.',
    ].join('\n'),
    flags: [BUNDLE],
  },
  {
    name: 'spec',
    args: '',
    summary: 'write a default config.json into the bundle directory',
    flags: [
      BUNDLE,
      { name: 'rootless', kind: 'bool', help: 'write a config for a container started by an unprivileged user' },
    ],
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
