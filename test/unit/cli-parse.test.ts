import { describe, expect, it } from 'vitest';
import { COMMANDS, findCommand, GLOBAL_FLAGS, type FlagSpec } from '../../lib/cli/commands.js';
import { commandHelp, mainHelp } from '../../lib/cli/help.js';
import { parseFlags, UsageError } from '../../lib/cli/parse.js';
import { generateId, validateId } from '../../lib/container-id.js';
import { TsboxError } from '../../lib/errors.js';

const SPECS: FlagSpec[] = [
  { name: 'bundle', short: 'b', kind: 'string', value: 'DIR', help: 'bundle' },
  { name: 'root', kind: 'string', default: '/run/tsbox', help: 'root' },
  { name: 'debug', kind: 'bool', help: 'debug' },
  { name: 'detach', short: 'd', kind: 'bool', help: 'detach' },
  { name: 'preserve-fds', kind: 'number', default: 0, help: 'fds' },
  { name: 'env', short: 'e', kind: 'list', help: 'env' },
];

const parse = (...argv: string[]) => parseFlags(argv, SPECS, 'test');

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toBeInstanceOf(TsboxError);
    return err as UsageError;
  }
  throw new Error('expected a UsageError, nothing was thrown');
}

describe('parseFlags', () => {
  it('defaults: given defaults, empty lists, nothing else', () => {
    expect(parse()).toStrictEqual({ flags: { root: '/run/tsbox', 'preserve-fds': 0, env: [] }, rest: [] });
  });

  it.each([
    [['--bundle', '/b']],
    [['--bundle=/b']],
    [['-b', '/b']],
    [['-b=/b']],
    [['-bundle', '/b']],
    [['-bundle=/b']],
    [['--b', '/b']],
  ])('string flag %j', (argv) => {
    expect(parse(...argv, 'id').flags.bundle).toBe('/b');
    expect(parse(...argv, 'id').rest).toStrictEqual(['id']);
  });

  it('values may be empty, contain "=", or start with "-"', () => {
    expect(parse('--bundle=').flags.bundle).toBe('');
    expect(parse('--bundle=a=b').flags.bundle).toBe('a=b');
    expect(parse('--bundle', '-x').flags.bundle).toBe('-x');
    expect(parse('-b', '--').flags.bundle).toBe('--');
    expect(parse('--bundle', '').flags.bundle).toBe('');
  });

  it('the last value of a string flag wins; defaults are overridden', () => {
    expect(parse('-b', 'one', '--bundle=two').flags.bundle).toBe('two');
    expect(parse('--root', '/tmp/r').flags.root).toBe('/tmp/r');
  });

  it('bool flags', () => {
    expect(parse('--debug').flags.debug).toBe(true);
    expect(parse('-debug').flags.debug).toBe(true);
    expect(parse('-d').flags.detach).toBe(true);
    expect(parse('--debug=true').flags.debug).toBe(true);
    expect(parse('--debug=false').flags.debug).toBe(false);
    expect(parse('--debug', '--debug=false').flags.debug).toBe(false);
    expect(parse('-d=false').flags.detach).toBe(false);
    // A bool flag takes no separate value: the next word is positional.
    expect(parse('--debug', 'false')).toStrictEqual({
      flags: { root: '/run/tsbox', 'preserve-fds': 0, env: [], debug: true },
      rest: ['false'],
    });
  });

  it('bool flags refuse other values', () => {
    for (const value of ['yes', '1', 'TRUE', '']) {
      const err = usageError(() => parse(`--debug=${value}`));
      expect(err.message).toBe(`test: flag --debug takes true or false, got "${value}"`);
    }
    expect(usageError(() => parse('-d=0')).message).toBe('test: flag --detach takes true or false, got "0"');
  });

  it('number flags', () => {
    expect(parse('--preserve-fds', '3').flags['preserve-fds']).toBe(3);
    expect(parse('--preserve-fds=0').flags['preserve-fds']).toBe(0);
    expect(parse('-preserve-fds', '12').flags['preserve-fds']).toBe(12);
    for (const value of ['-1', '1.5', 'x', '', '0x10', ' 1']) {
      const err = usageError(() => parse(`--preserve-fds=${value}`));
      expect(err.message).toBe(`test: flag --preserve-fds takes a whole number, got "${value}"`);
    }
  });

  it('list flags collect every value, in order', () => {
    expect(parse('-e', 'A=1', '--env=B=2', '--env', 'C', '-e=D=').flags.env).toStrictEqual(['A=1', 'B=2', 'C', 'D=']);
    // A fresh list on every call.
    expect(parse().flags.env).toStrictEqual([]);
  });

  it('stops at the first positional argument', () => {
    expect(parse('-d', 'id', '--debug', '-b', 'x')).toStrictEqual({
      flags: { root: '/run/tsbox', 'preserve-fds': 0, env: [], detach: true },
      rest: ['id', '--debug', '-b', 'x'],
    });
    // A lone "-" is an argument, not a flag.
    expect(parse('-', '--debug').rest).toStrictEqual(['-', '--debug']);
  });

  it('stops at "--", which is dropped', () => {
    expect(parse('--debug', '--', '--bundle', 'x').rest).toStrictEqual(['--bundle', 'x']);
    expect(parse('--debug', '--', '--bundle', 'x').flags.bundle).toBeUndefined();
    expect(parse('--', '--').rest).toStrictEqual(['--']);
    expect(parse('--').rest).toStrictEqual([]);
  });

  it('unknown flags', () => {
    expect(usageError(() => parse('--nope')).message).toBe('test: unknown flag "--nope"');
    expect(usageError(() => parse('--nope=1')).message).toBe('test: unknown flag "--nope"');
    expect(usageError(() => parse('-x')).message).toBe('test: unknown flag "-x"');
    expect(usageError(() => parse('-x=y')).message).toBe('test: unknown flag "-x"');
    expect(usageError(() => parse('-1')).message).toBe('test: unknown flag "-1"');
    expect(usageError(() => parse('--debug', '--Bundle', 'x')).message).toBe('test: unknown flag "--Bundle"');
  });

  it('a missing value', () => {
    expect(usageError(() => parse('--bundle')).message).toBe('test: flag --bundle needs a value');
    expect(usageError(() => parse('-b')).message).toBe('test: flag --bundle needs a value');
    expect(usageError(() => parse('--debug', '-e')).message).toBe('test: flag --env needs a value');
    expect(usageError(() => parse('--preserve-fds')).message).toBe('test: flag --preserve-fds needs a value');
  });

  it('the real global flags, as runc takes them', () => {
    expect(parseFlags(['--root', '/r', '--log=/l', '--log-format', 'json', '--debug', 'run', '-b', 'x', 'id'], GLOBAL_FLAGS)).toStrictEqual({
      flags: { root: '/r', log: '/l', 'log-format': 'json', rootless: 'auto', debug: true },
      rest: ['run', '-b', 'x', 'id'],
    });
    expect(parseFlags(['-h'], GLOBAL_FLAGS).flags.help).toBe(true);
    expect(parseFlags(['-v'], GLOBAL_FLAGS).flags.version).toBe(true);
    expect(parseFlags(['--systemd-cgroup'], GLOBAL_FLAGS).flags['systemd-cgroup']).toBe(true);
  });

  it('the real run and spec flags', () => {
    expect(parseFlags(['-bundle', '/b', '--pid-file=/p', '-d', 'id'], findCommand('run')!.flags, 'run')).toStrictEqual({
      flags: { bundle: '/b', 'pid-file': '/p', 'preserve-fds': 0, detach: true },
      rest: ['id'],
    });
    expect(parseFlags(['--rootless', '-b=/b'], findCommand('spec')!.flags, 'spec')).toStrictEqual({
      flags: { rootless: true, bundle: '/b' },
      rest: [],
    });
  });
});

describe('commands table', () => {
  it('findCommand', () => {
    expect(findCommand('run')?.name).toBe('run');
    expect(findCommand('spec')?.name).toBe('spec');
    expect(findCommand('nope')).toBeUndefined();
  });

  it('names and short forms are unique within each flag list', () => {
    for (const flags of [GLOBAL_FLAGS, ...COMMANDS.map((c) => [...c.flags, { name: 'help', short: 'h' }])]) {
      const names = flags.flatMap((f) => [f.name, ...(f.short ? [f.short] : [])]);
      expect(new Set(names).size).toBe(names.length);
    }
  });

  it('runc\'s global defaults', () => {
    const byName = Object.fromEntries(GLOBAL_FLAGS.map((f) => [f.name, f]));
    expect(byName.root!.default).toBe('/run/tsbox');
    expect(byName['log-format']!.default).toBe('text');
    expect(byName.rootless!.default).toBe('auto');
  });
});

describe('help', () => {
  const main = mainHelp();

  it('main help lists every command with its summary', () => {
    expect(main.startsWith('tsbox: an OCI container runtime')).toBe(true);
    expect(main).toContain('Usage: tsbox [global flags] COMMAND [flags] [arguments]');
    for (const c of COMMANDS) {
      expect(main).toMatch(new RegExp(`^  ${c.name} *   ${escape(c.summary)}$`, 'm'));
    }
    expect(main.endsWith('\n')).toBe(true);
  });

  it('main help lists every global flag, with short forms, placeholders and defaults', () => {
    for (const f of GLOBAL_FLAGS) {
      const names = `${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.value ? ` ${f.value}` : ''}`;
      const def = f.default !== undefined && f.kind !== 'bool' ? ` (default: ${f.default})` : '';
      expect(main).toMatch(new RegExp(`^  ${escape(names)} +${escape(f.help + def)}$`, 'm'));
    }
    expect(main).toContain('-h, --help');
    expect(main).toContain('-v, --version');
    expect(main).toContain('--root DIR');
    expect(main).toContain('(default: /run/tsbox)');
  });

  it('flag help columns line up', () => {
    const lines = main.split('\n').filter((l) => /^  (-\w, |    )--/.test(l));
    expect(lines).toHaveLength(GLOBAL_FLAGS.length);
    const columns = GLOBAL_FLAGS.map((f) => {
      const line = lines.find((l) => new RegExp(`--${f.name}( |$)`).test(l))!;
      return line.indexOf(f.help);
    });
    expect(columns.every((c) => c > 0)).toBe(true);
    expect(new Set(columns).size).toBe(1);
  });

  it.each(COMMANDS.map((c) => [c.name, c] as const))('help of %s lists its flags and -h', (_, c) => {
    const text = commandHelp(c);
    expect(text.startsWith(`Usage: tsbox ${c.name} [flags]${c.args ? ` ${c.args}` : ''}\n`)).toBe(true);
    const summary = c.summary.charAt(0).toUpperCase() + c.summary.slice(1) + '.';
    expect(text).toContain(`\n${summary}\n`);
    if (c.description) expect(text).toContain(c.description);
    for (const f of c.flags) {
      expect(text).toContain(`${f.short ? `-${f.short}, ` : '    '}--${f.name}${f.value ? ` ${f.value}` : ''}`);
      expect(text).toContain(f.help);
    }
    expect(text).toContain('-h, --help');
    expect(text).toContain('show this help');
  });

  it('run help', () => {
    const text = commandHelp(findCommand('run')!);
    expect(text).toContain('Usage: tsbox run [flags] [BUNDLE-DIR | ID]');
    expect(text).toContain('-b, --bundle DIR');
  });

  it('spec help has no trailing argument placeholder', () => {
    expect(commandHelp(findCommand('spec')!).split('\n')[0]).toBe('Usage: tsbox spec [flags]');
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('validateId', () => {
  it.each(['a', 'abc', 'A-Z_0-9', 'a.b', 'a+b', 'tsbox-1f-18c-abcdef', '...', '.a', 'a..b', 'x'.repeat(1024)])('accepts %s', (id) => {
    expect(validateId(id)).toBe(id);
  });

  it.each(['', '.', '..', 'a/b', '/a', '../x', 'a b', ' a', 'a\n', 'a\tb', 'a:b', 'a*', 'é', 'a\0b', 'x'.repeat(1025)])(
    'rejects %j',
    (id) => {
      expect(() => validateId(id)).toThrow(TsboxError);
      // Quoted as JSON (control characters escaped) and cut at 64 characters.
      const shown = JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}...` : id);
      expect(() => validateId(id)).toThrow(`invalid container id ${shown}: use 1 to 1024 of A-Z a-z 0-9 _ + - . (not "." or "..")`);
    },
  );

  it('generated ids are valid and distinct', () => {
    const ids = new Set(Array.from({ length: 20 }, () => generateId()));
    expect(ids.size).toBe(20);
    for (const id of ids) {
      expect(validateId(id)).toBe(id);
      expect(id).toMatch(/^tsbox-[0-9a-f]+-[0-9a-f]+-[0-9a-f]{6}$/);
    }
  });
});
