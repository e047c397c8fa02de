// dist/tsbox, the entry engines call: bin/tsbox with a first line naming
// the Node that ran scripts/pack-cli.js, so that a call execs Node directly
// instead of /usr/bin/env first. It must be made (and made again) by the
// packer, stay out of git, and behave exactly as bin/tsbox does.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, makeBundle, type TestBundle } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';

const ROOT = path.resolve(__dirname, '..', '..');
const ENTRY = path.join(ROOT, 'dist', 'tsbox');

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `tsbox args` through one entry: bin/tsbox as `node bin/tsbox`, dist/tsbox exec'd as it is. */
function call(entry: 'bin' | 'dist', args: string[], stdio: 'pipe' | number = 'pipe'): Outcome {
  const [cmd, argv] = entry === 'bin' ? [process.execPath, [TSBOX, ...args]] : [ENTRY, args];
  const r = spawnSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', stdio, stdio], timeout: 20_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** A state's JSON without what differs between two containers of the same config. */
function sameness(out: Outcome): Outcome {
  return { ...out, stdout: out.stdout.replace(/"pid": \d+/, '"pid": N').replace(/"created": "[^"]+"/, '"created": T') };
}

describe('dist/tsbox, the entry without /usr/bin/env (scripts/pack-cli.js)', () => {
  it('is bin/tsbox with a first line naming this Node, executable, and not in git', () => {
    const text = fs.readFileSync(ENTRY, 'utf8');
    const bin = fs.readFileSync(TSBOX, 'utf8');
    expect(text.slice(0, text.indexOf('\n'))).toBe(`#!${process.execPath}`);
    expect(bin.slice(0, bin.indexOf('\n'))).toBe('#!/usr/bin/env node');
    expect(text.slice(text.indexOf('\n'))).toBe(bin.slice(bin.indexOf('\n')));
    expect(fs.statSync(ENTRY).mode & 0o111).toBe(0o111);
    expect(spawnSync('git', ['-C', ROOT, 'check-ignore', '-q', 'dist/tsbox']).status, 'git check-ignore dist/tsbox').toBe(0);
    const tracked = spawnSync('git', ['-C', ROOT, 'ls-files', 'dist'], { encoding: 'utf8' });
    expect(tracked.stdout).toBe('');
    // npm pack leaves it out: it names the packer's Node, not the user's.
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).files).toContain('!dist/tsbox');
  });

  describe.skipIf(!isRoot)('with containers', () => {
    let work: string;
    let bundle: TestBundle;

    beforeAll(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-entry-'));
      bundle = makeBundle({ args: ['/bin/sh', '-c', 'echo out; echo err >&2; exit 3'], withProbe: false });
    });

    afterAll(() => {
      for (const id of ['e-run', 'e-life']) call('bin', ['--root', path.join(work, 'state'), 'delete', '-f', id]);
      bundle?.cleanup();
      if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    it('runs run, create, state, start and delete, and fails, exactly as bin/tsbox', () => {
      const transcript = (entry: 'bin' | 'dist'): Outcome[] => {
        const root = ['--root', path.join(work, 'state')];
        const out: Outcome[] = [];
        out.push(call(entry, [...root, 'run', '-b', bundle.dir, 'e-run']));
        // create's stdio is the container's: a file, which it keeps until it exits.
        const log = path.join(work, `${entry}.log`);
        const fd = fs.openSync(log, 'w');
        try {
          out.push(call(entry, [...root, 'create', '-b', bundle.dir, 'e-life'], fd));
        } finally {
          fs.closeSync(fd);
        }
        out.push(sameness(call(entry, [...root, 'state', 'e-life'])));
        out.push(call(entry, [...root, 'start', 'e-life']));
        for (let i = 0; i < 200 && !call(entry, [...root, 'state', 'e-life']).stdout.includes('"stopped"'); i++) spawnSync('sleep', ['0.02']);
        out.push(sameness(call(entry, [...root, 'state', 'e-life'])));
        out.push(call(entry, [...root, 'delete', 'e-life']));
        out.push({ status: null, stdout: fs.readFileSync(log, 'utf8'), stderr: '' });
        out.push(call(entry, [...root, 'state', 'e-life']));
        out.push(call(entry, [...root, 'create', '-b', path.join(work, 'missing'), 'e-none']));
        out.push(call(entry, [...root, 'list']));
        return out;
      };
      const viaBin = transcript('bin');
      expect(viaBin[0]).toEqual({ status: 3, stdout: 'out\n', stderr: 'err\n' });
      expect(viaBin[2]!.stdout).toContain('"status": "created"');
      expect(viaBin[4]!.stdout).toContain('"status": "stopped"');
      expect(viaBin[6]!.stdout).toBe('out\nerr\n');
      expect(viaBin[7]!.status).toBe(1);
      expect(viaBin[8]!.stderr).toMatch(/missing/);
      expect(transcript('dist')).toEqual(viaBin);
    }, 60_000);
  });

  describe('made by the packer', () => {
    let pkg: string;

    /** The package copied (bin/, dist/ without its packs and entry, the packer), so that packing it touches nothing else. */
    beforeAll(() => {
      pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-entry-pkg-'));
      fs.cpSync(path.join(ROOT, 'bin'), path.join(pkg, 'bin'), { recursive: true });
      fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), {
        recursive: true,
        filter: (src) => !src.includes(`${path.sep}packed`) && !src.includes('.compile-cache') && src !== ENTRY,
      });
      fs.mkdirSync(path.join(pkg, 'scripts'));
      fs.copyFileSync(path.join(ROOT, 'scripts', 'pack-cli.js'), path.join(pkg, 'scripts', 'pack-cli.js'));
      fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
      fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
      if (fs.existsSync(path.join(ROOT, 'build'))) fs.symlinkSync(path.join(ROOT, 'build'), path.join(pkg, 'build'));
    });

    afterAll(() => {
      if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
    });

    /** This Node at another path (a hard link, or a copy across filesystems). */
    function nodeAt(dir: string): string {
      fs.mkdirSync(dir, { recursive: true });
      const node = path.join(dir, 'node');
      try {
        fs.linkSync(process.execPath, node);
      } catch {
        fs.copyFileSync(process.execPath, node);
        fs.chmodSync(node, 0o755);
      }
      return node;
    }

    const packWith = (node: string) => spawnSync(node, [path.join(pkg, 'scripts', 'pack-cli.js')], { encoding: 'utf8', timeout: 120_000 });
    const entry = () => path.join(pkg, 'dist', 'tsbox');
    const firstLine = () => fs.readFileSync(entry(), 'utf8').split('\n')[0];

    it('names the Node that ran it, anew at each run; a Node that is gone is a plain exec error', () => {
      expect(fs.existsSync(entry())).toBe(false);
      const other = nodeAt(path.join(pkg, 'other-node'));
      expect(packWith(other)).toMatchObject({ status: 0, stderr: expect.stringContaining(`dist/tsbox (#!${other})`) });
      expect(firstLine()).toBe(`#!${other}`);
      const version = spawnSync(entry(), ['--version'], { encoding: 'utf8' });
      expect(version).toMatchObject({ status: 0, stdout: expect.stringMatching(/^tsbox version /) });
      // The Node it names is gone: the kernel cannot exec the entry.
      fs.rmSync(path.dirname(other), { recursive: true });
      expect(spawnSync(entry(), ['--version']).error).toMatchObject({ code: 'ENOENT' });
      expect(packWith(process.execPath)).toMatchObject({ status: 0 });
      expect(firstLine()).toBe(`#!${process.execPath}`);
      expect(spawnSync(entry(), ['--version'], { encoding: 'utf8' }).stdout).toBe(version.stdout);
    }, 240_000);

    it('is not made (an old one removed, with a warning) for a Node whose path a #! line cannot hold', () => {
      expect(packWith(process.execPath)).toMatchObject({ status: 0 });
      const spaced = nodeAt(path.join(pkg, 'a node'));
      const r = packWith(spaced);
      expect(r.status).toBe(0);
      expect(r.stderr).toContain(`warning: no dist/tsbox: ${JSON.stringify(spaced)} cannot be named on a #! line`);
      expect(fs.existsSync(entry())).toBe(false);
      fs.rmSync(path.dirname(spaced), { recursive: true });
    }, 240_000);
  });
});
