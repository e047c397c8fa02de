// The README against the code: every command and flag of the CLI table
// (lib/cli/commands.ts) is documented in "The command line", and the engine
// snippets of "Using tsbox under ..." are what the engines accept.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
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
    expect(JSON.parse(json!)).toEqual({ runtimes: { tsbox: { path: '/usr/local/bin/tsbox' } } });
  });

  it('Podman: containers.conf adds the runtime and lets podman pass JSON logs', () => {
    const toml = codeBlocks(engines, 'toml').find((b) => b.includes('[engine]'));
    expect(toml).toBeDefined();
    const lines = toml!.split('\n');
    const at = (l: string) => lines.indexOf(l);
    expect(at('[engine]')).toBe(0);
    expect(lines).toContain('cgroup_manager = "cgroupfs"');
    expect(lines.find((l) => l.startsWith('runtime_supports_json'))).toMatch(/"tsbox"/);
    expect(at('tsbox = ["/usr/local/bin/tsbox"]')).toBe(at('[engine.runtimes]') + 1);
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
      expect(options.split('\n').slice(1, 4).join('\n')).toMatch(/^\s*BinaryName = "\/usr\/local\/bin\/tsbox"$/m);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
