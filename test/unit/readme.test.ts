// The README against the code: every command and flag of the CLI table
// (lib/cli/commands.ts) is documented in "The command line", and the engine
// snippets of "Using tsbox under ..." are what the engines accept.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, GLOBAL_FLAGS } from '../../lib/cli/commands.js';

const README = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

/** The text of the README section whose `## ` heading starts with `title`. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}`);
  expect(start, `README section "${title}"`).toBeGreaterThanOrEqual(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

/** The fenced code blocks of `text` in language `lang`. */
function codeBlocks(text: string, lang: string): string[] {
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!.replace(/^ {2}/gm, ''));
}

function hasExecutable(name: string): boolean {
  return (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, name)));
}

describe('README: the command line', () => {
  const cli = section('The command line');

  it.each(COMMANDS.map((c) => [c.name, c] as const))('documents %s and its flags', (name, command) => {
    expect(cli, `command ${name}`).toMatch(new RegExp('`' + name + '[ `]'));
    for (const flag of command.flags) {
      expect(cli, `${name} --${flag.name}`).toContain(`--${flag.name}`);
      if (flag.short) expect(cli, `${name} -${flag.short}`).toMatch(new RegExp(`\`-${flag.short}\``));
    }
  });

  it('documents the global flags', () => {
    for (const flag of GLOBAL_FLAGS) {
      expect(cli, `--${flag.name}`).toContain(`--${flag.name}`);
      if (flag.short) expect(cli, `-${flag.short}`).toContain(`-${flag.short}/--${flag.name}`);
    }
  });
});

describe('README: engine configuration', () => {
  const engines = section('Using tsbox under');

  it('Docker: daemon.json names the runtime tsbox with its path', () => {
    const [json] = codeBlocks(engines, 'json');
    expect(JSON.parse(json!)).toEqual({ runtimes: { tsbox: { path: '/usr/local/lib/node_modules/tsbox/dist/tsbox' } } });
  });

  it('Podman: containers.conf adds the runtime and lets podman pass JSON logs', () => {
    const toml = codeBlocks(engines, 'toml').find((b) => b.includes('[engine]'));
    expect(toml).toBeDefined();
    const lines = toml!.split('\n');
    const at = (l: string) => lines.indexOf(l);
    expect(at('[engine]')).toBe(0);
    expect(lines).toContain('cgroup_manager = "cgroupfs"');
    expect(lines.find((l) => l.startsWith('runtime_supports_json'))).toMatch(/"tsbox"/);
    expect(at('tsbox = ["/usr/local/lib/node_modules/tsbox/dist/tsbox"]')).toBe(at('[engine.runtimes]') + 1);
  });

  it('Kubernetes: the RuntimeClass handler is the containerd runtime name', () => {
    const [yaml] = codeBlocks(engines, 'yaml');
    expect(yaml).toMatch(/^kind: RuntimeClass$/m);
    expect(yaml).toMatch(/^handler: tsbox$/m);
    expect(yaml).toMatch(/^ {2}runtimeClassName: tsbox$/m);
  });

  it.skipIf(!hasExecutable('containerd'))('containerd: the config.toml snippet loads, with BinaryName on the runc shim', () => {
    const snippet = codeBlocks(engines, 'toml').find((b) => b.includes('io.containerd'));
    expect(snippet).toBeDefined();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-readme-'));
    try {
      const config = path.join(dir, 'config.toml');
      fs.writeFileSync(config, `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n${snippet}`);
      // `config dump` loads and prints the merged config; it starts nothing.
      const dump = execFileSync('containerd', ['--config', config, 'config', 'dump'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      const table = dump.slice(dump.indexOf('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsbox]'));
      expect(table).toMatch(/^\s*runtime_type = "io\.containerd\.runc\.v2"$/m);
      const options = table.slice(table.indexOf('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.tsbox.options]'));
      expect(options.split('\n').slice(1, 4).join('\n')).toMatch(/^\s*BinaryName = "\/usr\/local\/lib\/node_modules\/tsbox\/dist\/tsbox"$/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('README: containerd 2', () => {
  it('the version 3 snippet names the CRI runtime plugin of containerd 2, with BinaryName on the runc shim', () => {
    const v3 = codeBlocks(section('Using tsbox under'), 'toml').find((b) => b.startsWith('version = 3\n'));
    expect(v3).toBeDefined();
    const lines = v3!.trim().split('\n').map((l) => l.trim());
    expect(lines).toEqual([
      'version = 3',
      '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tsbox]',
      'runtime_type = "io.containerd.runc.v2"',
      '[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.tsbox.options]',
      'BinaryName = "/usr/local/lib/node_modules/tsbox/dist/tsbox"',
    ]);
  });
});

describe('README: set-up', () => {
  const setup = section('Set-up');

  it('the commands are shell that parses, and every package it names exists', () => {
    const [block] = codeBlocks(setup, 'sh');
    expect(block).toMatch(/^apt-get update && apt-get install -y .* && npm install\nnpm test\n$/);
    execFileSync('sh', ['-n', '-c', block!]);
    // The extra packages for the tests that skip without them, named in the text.
    const extra = /`(apt-get install -y [^`]+)`/.exec(setup)?.[1];
    expect(extra).toBeDefined();
    const packages = [...block!.matchAll(/apt-get install -y ([^&\n]+)/g), ...[extra!].map((e) => /apt-get install -y (.*)/.exec(e)!)]
      .flatMap((m) => m[1]!.trim().split(/\s+/));
    expect(packages).toEqual(expect.arrayContaining(['busybox-static', 'build-essential', 'libseccomp-dev', 'podman', 'containerd', 'docker.io', 'uidmap', 'dbus-daemon']));
    if (hasExecutable('apt-cache')) {
      // One call (each costs a second or more): it fails naming the first unknown package.
      expect(() => execFileSync('apt-cache', ['show', '--no-all-versions', ...packages], { stdio: ['ignore', 'ignore', 'pipe'] })).not.toThrow();
    }
  });
});

/** Runs `command` to its exit with `input` written to its stdin (kept open until then). */
function runWithInput(command: string, args: string[], cwd: string, input: string): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('exit', (status) => {
      clearTimeout(timer);
      child.stdin!.destroy();
      resolve({ status, out });
    });
    child.stdin!.write(input);
  });
}

const canRunContainers = process.getuid?.() === 0 && fs.existsSync('/bin/busybox') && ['script', 'unshare', 'chroot'].every(hasExecutable);

describe.skipIf(!canRunContainers)('README: what a user pastes runs as written', () => {
  const ROOT = path.join(__dirname, '..', '..');
  let project: string;

  beforeAll(() => {
    // A project with tsbox installed: this checkout, linked in as npm would.
    project = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-readme-'));
    fs.mkdirSync(path.join(project, 'node_modules', '.bin'), { recursive: true });
    fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'tsbox'));
    fs.symlinkSync('../tsbox/bin/tsbox', path.join(project, 'node_modules', '.bin', 'tsbox'));
    fs.writeFileSync(path.join(project, 'package.json'), '{"name":"readme-test","private":true}\n');
  });

  afterAll(() => {
    fs.rmSync(project, { recursive: true, force: true });
  });

  it('Quickstart: makes the bundle, writes its config, and runs its shell on a terminal', async () => {
    const [block] = codeBlocks(section('Quickstart'), 'sh');
    const lines = block!.trim().split('\n');
    expect(lines.at(-1)).toBe('npx tsbox run bundle/');
    execFileSync('sh', ['-ec', lines.slice(0, -1).join('\n')], { cwd: project, stdio: 'pipe' });
    expect(JSON.parse(fs.readFileSync(path.join(project, 'bundle', 'config.json'), 'utf8')).process.args).toEqual(['sh']);
    // The last line as typed at a terminal (script(1) gives it one), with
    // a /run of its own so that the state goes nowhere on the host.
    const r = await runWithInput(
      'unshare',
      ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs tsbox-readme /run && exec script -qfec '${lines.at(-1)}' /dev/null`],
      project,
      'echo hello from $(hostname); exit 3\n',
    );
    expect(r.out).toMatch(/^hello from tsbox\r?$/m);
    expect(r.status).toBe(3);
  });

  it('The library: the example runs the Quickstart bundle with plain stdio', () => {
    expect(fs.existsSync(path.join(project, 'bundle', 'config.json')), 'the Quickstart test ran first').toBe(true);
    const [example] = codeBlocks(section('The library'), 'js');
    fs.writeFileSync(path.join(project, 'example.js'), example!);
    const out = execFileSync(process.execPath, ['example.js'], { cwd: project, encoding: 'utf8' });
    expect(out).toMatch(/^container pid \d+\nhello from tsbox\nexited \{ code: 0, signal: null, status: 0 \}\n$/);
  });

  it('Installing: the wrapper runs tsbox with the absolute interpreter, with no node on PATH', () => {
    const [wrapper] = codeBlocks(section('Installing'), 'sh').filter((b) => b.includes('/usr/local/bin/tsbox'));
    expect(wrapper).toBeDefined();
    // The wrapper's paths, moved under the test's directory.
    const globalRoot = path.join(project, 'node_modules');
    const target = path.join(project, 'tsbox-wrapper');
    const script = wrapper!.replaceAll('/usr/local/bin/tsbox', target).replaceAll('$(npm root -g)', globalRoot);
    // Where npm had linked the command: the wrapper must replace the link,
    // not what it points to (here a copy, so a broken README harms nothing).
    const linked = path.join(project, 'linked-tsbox');
    fs.copyFileSync(path.join(ROOT, 'bin', 'tsbox'), linked);
    fs.symlinkSync(linked, target);
    execFileSync('sh', ['-ec', script], { cwd: project, env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` } });
    const out = execFileSync(target, ['--version'], { encoding: 'utf8', env: { PATH: '/nonexistent' } });
    expect(out).toMatch(/^tsbox version \d+\.\d+\.\d+\n/);
    expect(fs.lstatSync(target).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(linked, 'utf8')).toBe(fs.readFileSync(path.join(ROOT, 'bin', 'tsbox'), 'utf8'));
  });
});
