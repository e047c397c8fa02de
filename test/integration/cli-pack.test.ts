// bin/tsbox's fast start: dist/ packed into one file with a V8 code cache
// (scripts/pack-cli.js). The packed CLI must behave exactly like dist/
// loaded module by module, and anything wrong with the pack or its cache
// must mean the slow start, never a crash or stale code.
//
// Each test works on its own copy of the package (bin/, dist/, the pack
// script; node_modules and build/ linked), so that it can damage the pack
// without touching the one the other test files use.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Preloaded into each tsbox run: records whether the pack's code cache was
 * given to V8 and taken, and whether dist/cli/main.js was loaded as a module
 * (the unpacked start). Written to a file, so stdout and stderr stay tsbox's.
 */
const OBSERVER = `
const fs = require('node:fs');
const vm = require('node:vm');
let cache = null;
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(source, options) {
    super(source, options);
    cache = options && options.cachedData ? (this.cachedDataRejected ? 'rejected' : 'accepted') : 'none';
  }
};
process.on('exit', () => {
  const unpacked = Object.keys(require.cache).some((k) => k.endsWith('/dist/cli/main.js'));
  fs.writeFileSync(process.env.TSBOX_TEST_OBSERVE, JSON.stringify({ cache, unpacked }));
});
`;

interface Outcome {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface Observed {
  /** null: the pack was not compiled; none: compiled without a cache. */
  cache: 'accepted' | 'rejected' | 'none' | null;
  unpacked: boolean;
}

let pkg: string;
let stateRoot: string;
/**
 * The packs and their code caches: the full ones (create, run and exec),
 * one for each command engines call per container, and the light ones
 * (every other command).
 */
const KINDS = ['cli', 'cli-state', 'cli-list', 'cli-start', 'cli-kill', 'cli-delete', 'cli-light'] as const;
const PACKS = KINDS.map((k) => `${k}.js` as const);
const CACHES = KINDS.map((k) => `${k}.cache` as const);
type PackName = (typeof PACKS)[number];
type CacheName = (typeof CACHES)[number];
let pristine: { packs: Record<PackName, Buffer>; caches: Record<CacheName, Buffer> };

/** Commands that touch no container: output and status must not depend on how the CLI was loaded. */
function commands(): string[][] {
  return [
    ['--version'],
    ['--help'],
    [],
    ['state', '--help'],
    ['run', '--help'],
    ['--root', stateRoot, 'state', 'nope'],
    ['--root', stateRoot, 'state'],
    ['--root', stateRoot, 'list'],
    ['--root', stateRoot, 'list', '--format', 'json'],
    ['--root', stateRoot, 'kill', 'nope', 'KILL'],
    ['--root', stateRoot, 'delete', 'nope'],
    ['--root', stateRoot, 'bogus'],
    ['--log-format', 'xml', 'list'],
    ['features'],
  ];
}

function tsboxIn(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): { outcome: Outcome; observed: Observed } {
  const observe = path.join(dir, 'observed.json');
  fs.rmSync(observe, { force: true });
  const env2: NodeJS.ProcessEnv = { ...process.env, ...env, TSBOX_TEST_OBSERVE: observe };
  if (!('TSBOX_UNPACKED' in env)) delete env2.TSBOX_UNPACKED;
  const r = spawnSync(process.execPath, ['-r', path.join(dir, 'observer.js'), path.join(dir, 'bin', 'tsbox'), ...args], {
    encoding: 'utf8',
    env: env2,
    timeout: 20_000,
  });
  const observed = JSON.parse(fs.readFileSync(observe, 'utf8')) as Observed;
  return { outcome: { status: r.status, stdout: r.stdout, stderr: r.stderr }, observed };
}

const packFile = (name: PackName) => path.join(pkg, 'dist', 'packed', name);
const cacheFile = (name: CacheName) => path.join(pkg, 'dist', 'packed', name);
const readPristine = () => ({
  packs: Object.fromEntries(PACKS.map((n) => [n, fs.readFileSync(packFile(n))])) as Record<PackName, Buffer>,
  caches: Object.fromEntries(CACHES.map((n) => [n, fs.readFileSync(cacheFile(n))])) as Record<CacheName, Buffer>,
});
/** The modules a pack's source holds (the others it only names, with 0). */
const modulesIn = (source: string) => [...source.matchAll(/^("[^"\n]+"): function \(/gm)].map((m) => JSON.parse(m[1]!) as string);
const heldBy = (name: PackName) => modulesIn(pristine.packs[name].toString('utf8'));

function pack(dir: string, ...args: string[]): { status: number | null; stderr: string } {
  return packWith({}, dir, ...args);
}

function packWith(env: NodeJS.ProcessEnv, dir: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'pack-cli.js'), ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  return { status: r.status, stderr: r.stderr };
}

/** Every command's outcome matches the unpacked CLI's, and each run started the expected way. */
function expectSameAsUnpacked(expected: Observed): void {
  for (const args of commands()) {
    const unpacked = tsboxIn(pkg, args, { TSBOX_UNPACKED: '1' });
    expect(unpacked.observed, `TSBOX_UNPACKED=1 tsbox ${args.join(' ')}`).toEqual({ cache: null, unpacked: true });
    const packed = tsboxIn(pkg, args);
    expect(packed.observed, `how tsbox ${args.join(' ')} started`).toEqual(expected);
    expect(packed.outcome, `tsbox ${args.join(' ')}`).toEqual(unpacked.outcome);
  }
}

const cacheOf = (name: CacheName) => splitCache(pristine.caches[name]).cache;
const magicOf = (name: CacheName) => splitCache(pristine.caches[name]).header.split(' ')[0];
const buildOf = (name: CacheName) => splitCache(pristine.caches[name]).header.split(' ')[1];
const lengthOf = (name: CacheName) => Number(splitCache(pristine.caches[name]).header.split(' ')[2]);

/** The cache file's header line and V8's cache (the file holds it twice). */
function splitCache(data: Buffer): { header: string; cache: Buffer } {
  const nl = data.indexOf(10);
  const length = Number(data.toString('latin1', 0, nl).split(' ')[2]);
  return { header: data.toString('latin1', 0, nl), cache: Buffer.from(data.subarray(nl + 1, nl + 1 + length)) };
}

function writeCache(name: CacheName, header: string, first: Buffer, second: Buffer = first): void {
  fs.writeFileSync(cacheFile(name), Buffer.concat([Buffer.from(`${header}\n`, 'latin1'), first, second]));
}

describe('packed CLI (scripts/pack-cli.js, bin/tsbox)', () => {
  beforeAll(() => {
    pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-test-'));
    stateRoot = path.join(pkg, 'state');
    fs.cpSync(path.join(ROOT, 'bin'), path.join(pkg, 'bin'), { recursive: true });
    fs.cpSync(path.join(ROOT, 'dist'), path.join(pkg, 'dist'), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}packed`) && !src.includes('.compile-cache'),
    });
    fs.mkdirSync(path.join(pkg, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'pack-cli.js'), path.join(pkg, 'scripts', 'pack-cli.js'));
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
    // A checkout, where tsc may rewrite dist/ (an installed package has no lib/).
    for (const config of ['tsconfig.json', 'tsconfig.build.json']) fs.copyFileSync(path.join(ROOT, config), path.join(pkg, config));
    fs.symlinkSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'));
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
    if (fs.existsSync(path.join(ROOT, 'build'))) fs.symlinkSync(path.join(ROOT, 'build'), path.join(pkg, 'build'));
    fs.writeFileSync(path.join(pkg, 'observer.js'), OBSERVER);
    const r = pack(pkg);
    expect(r, 'scripts/pack-cli.js').toMatchObject({ status: 0 });
    pristine = readPristine();
  }, 120_000);

  afterAll(() => {
    if (pkg) fs.rmSync(pkg, { recursive: true, force: true });
  });

  beforeEach(() => {
    // Content only: rewriting the files keeps dist/'s own mtimes, which is
    // what tells the loader whether the pack is stale.
    for (const name of PACKS) fs.writeFileSync(packFile(name), pristine.packs[name]);
    for (const name of CACHES) fs.writeFileSync(cacheFile(name), pristine.caches[name]);
  });

  it('gives the same output and status as the modules of dist/, with its code cache taken', () => {
    expectSameAsUnpacked({ cache: 'accepted', unpacked: false });
  }, 120_000);

  it('reads the full pack and cache for create, run and exec, its own for each per-call command, the light ones for every other command', () => {
    // Each cache damaged alone: a command reading it starts without a cache.
    for (const damaged of CACHES) {
      for (const name of CACHES) fs.writeFileSync(cacheFile(name), pristine.caches[name]);
      const { header, cache } = splitCache(pristine.caches[damaged]);
      const broken = Buffer.from(cache);
      for (let i = 0; i < 256; i++) broken[(broken.length >> 1) + i]! ^= 0x5a;
      writeCache(damaged, header, broken, cache);
      const reads: Array<[string[], CacheName]> = [
        [['run', '--help'], 'cli.cache'],
        [['create', '--help'], 'cli.cache'],
        [['exec', '--help'], 'cli.cache'],
        [['--root', stateRoot, 'state', 'nope'], 'cli-state.cache'],
        [['list', '--help'], 'cli-list.cache'],
        [['--root', stateRoot, 'start', 'nope'], 'cli-start.cache'],
        [['--root', stateRoot, 'kill', 'nope'], 'cli-kill.cache'],
        [['--root', stateRoot, 'delete', 'nope'], 'cli-delete.cache'],
        // A container named after a per-call command: the first such word counts.
        [['--root', stateRoot, 'kill', 'state'], 'cli-kill.cache'],
        [['--version'], 'cli-light.cache'],
        [['ps', '--help'], 'cli-light.cache'],
      ];
      for (const [args, reads_] of reads) {
        const expected = reads_ === damaged ? 'none' : 'accepted';
        expect(tsboxIn(pkg, args).observed, `tsbox ${args.join(' ')} with ${damaged} damaged`).toEqual({ cache: expected, unpacked: false });
      }
    }
  }, 120_000);

  it('compiles the pack without a cache that is damaged (its two copies differ), instead of letting V8 abort', () => {
    for (const name of CACHES) {
      const { header, cache } = splitCache(pristine.caches[name]);
      const damaged = Buffer.from(cache);
      for (let i = 0; i < 256; i++) damaged[(damaged.length >> 1) + i]! ^= 0x5a;
      writeCache(name, header, damaged, cache);
    }
    expectSameAsUnpacked({ cache: 'none', unpacked: false });
  }, 120_000);

  it('lets V8 refuse a cache made by another Node (its version hash differs), and runs without it', () => {
    for (const name of CACHES) {
      const { header, cache } = splitCache(pristine.caches[name]);
      // V8's header: magic number, then the version hash (bytes 4-7); both
      // copies alike, so that only V8's own check can catch it.
      cache[4]! ^= 0xff;
      writeCache(name, header, cache);
    }
    expectSameAsUnpacked({ cache: 'rejected', unpacked: false });
  }, 120_000);

  it('ignores a cache made for another pack, a truncated, empty or missing one', () => {
    const variants: Array<[string, (name: CacheName) => void]> = [
      ['another build', (n) => writeCache(n, `${magicOf(n)} 0123456789abcdef ${lengthOf(n)}`, cacheOf(n))],
      ['wrong length', (n) => writeCache(n, `${magicOf(n)} ${buildOf(n)} ${lengthOf(n) - 1}`, cacheOf(n))],
      ['one copy', (n) => fs.writeFileSync(cacheFile(n), Buffer.concat([Buffer.from(`${splitCache(pristine.caches[n]).header}\n`), cacheOf(n)]))],
      ['truncated', (n) => fs.writeFileSync(cacheFile(n), pristine.caches[n].subarray(0, pristine.caches[n].length - 1))],
      ['empty', (n) => fs.writeFileSync(cacheFile(n), '')],
      ['no header', (n) => fs.writeFileSync(cacheFile(n), Buffer.concat([cacheOf(n), cacheOf(n)]))],
      ['missing', (n) => fs.rmSync(cacheFile(n))],
    ];
    for (const [name, damage] of variants) {
      for (const n of CACHES) damage(n);
      for (const args of [['--version'], ['--root', stateRoot, 'state', 'nope'], ['run', '--help']]) {
        const unpacked = tsboxIn(pkg, args, { TSBOX_UNPACKED: '1' });
        const packed = tsboxIn(pkg, args);
        expect(packed.observed, `${name} cache: how tsbox ${args.join(' ')} started`).toEqual({ cache: 'none', unpacked: false });
        expect(packed.outcome, `${name} cache: tsbox ${args.join(' ')}`).toEqual(unpacked.outcome);
      }
    }
  }, 120_000);

  it('falls back to dist/ when the pack does not load', () => {
    // Compiles, but throws instead of returning its loader (and its length
    // is no longer the one the cache was made for).
    for (const name of PACKS) {
      const broken = pristine.packs[name].toString('utf8').replace(/\nreturn load;\n/, '\nthrow load;\n');
      expect(broken).not.toEqual(pristine.packs[name].toString('utf8'));
      fs.writeFileSync(packFile(name), broken);
    }
    expectSameAsUnpacked({ cache: 'rejected', unpacked: true });
  }, 120_000);

  it('holds in the light and per-call packs only what their commands load; whatever else they need comes from dist/ as it is', () => {
    const light = heldBy('cli-light.js');
    const full = heldBy('cli.js');
    expect(light).toEqual(expect.arrayContaining(['cli/main.js', 'cli/commands/state.js', 'cli/commands/delete.js', 'runtime/runtime.js']));
    for (const setUp of ['launch.js', 'bundle.js', 'plan/build.js', 'cli/commands/run.js', 'cli/commands/create.js']) {
      expect(full, 'the full pack').toContain(setUp);
      for (const name of PACKS.filter((n) => n !== 'cli.js')) expect(heldBy(name), name).not.toContain(setUp);
    }
    // Nor does the full pack hold what create, run and exec never load.
    for (const other of ['cli/commands/state.js', 'cli/commands/restore.js', 'criu/restore.js', 'index.js', 'helper-server.js']) expect(full, 'the full pack').not.toContain(other);
    // state and list read the state store alone: no Runtime, no cgroup driver, no other command.
    for (const name of ['cli-state.js', 'cli-list.js'] as const) {
      expect(heldBy(name), name).toEqual(expect.arrayContaining(['cli/main.js', 'runtime/state.js', 'host/proc.js']));
      for (const not of ['runtime/runtime.js', 'cgroup-drivers.js', 'cgroups/manager.js', 'hooks.js', 'cli/commands/kill.js']) expect(heldBy(name), name).not.toContain(not);
    }
    for (const name of ['cli-start.js', 'cli-kill.js', 'cli-delete.js'] as const) {
      expect(heldBy(name), name).toEqual(expect.arrayContaining(['cli/main.js', `cli/commands/${name.slice(4, -3)}.js`, 'runtime/runtime.js']));
      expect(heldBy(name), name).not.toContain('cli/commands/list.js');
    }
    // A module the light pack does not hold is dist/'s, as it is now.
    const help = path.join(pkg, 'dist', 'cli', 'help.js');
    const helpText = fs.readFileSync(help, 'utf8');
    try {
      fs.writeFileSync(help, `${helpText}\nexports.mainHelp = () => 'help from dist/\\n';\n`);
      const r = tsboxIn(pkg, ['--help']);
      expect(r.observed, 'tsbox --help').toEqual({ cache: 'accepted', unpacked: false });
      expect(r.outcome).toEqual({ status: 0, stdout: 'help from dist/\n', stderr: '' });
    } finally {
      fs.writeFileSync(help, helpText);
    }
  }, 120_000);

  it('is not used once tsc has run since it was made (stale), until it is made again', () => {
    // tsc as a developer runs it by hand; it rewrites every file it emits,
    // the same text included.
    const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(pkg, 'tsconfig.build.json')], { encoding: 'utf8', timeout: 110_000 });
    expect(tsc, 'tsc').toMatchObject({ status: 0, stdout: '' });
    try {
      for (const args of [['--version'], ['--root', stateRoot, 'state', 'nope'], ['run', '--help'], ['ps', '--help']]) {
        const r = tsboxIn(pkg, args);
        expect(r.observed, `tsbox ${args.join(' ')}`).toEqual({ cache: null, unpacked: true });
        expect(r.outcome, `tsbox ${args.join(' ')}`).toEqual(tsboxIn(pkg, args, { TSBOX_UNPACKED: '1' }).outcome);
      }
      expect(pack(pkg)).toMatchObject({ status: 0 });
      expect(tsboxIn(pkg, ['--version']).observed).toEqual({ cache: 'accepted', unpacked: false });
    } finally {
      pristine = readPristine();
    }
  }, 240_000);

  it('is stale once dist/cli/main.js has another mtime or size than when it was made, in a checkout', () => {
    const main = path.join(pkg, 'dist', 'cli', 'main.js');
    const text = fs.readFileSync(main, 'utf8');
    const { mtime } = fs.statSync(main);
    try {
      fs.utimesSync(main, mtime, new Date(mtime.getTime() + 1000));
      expect(tsboxIn(pkg, ['--version']).observed, 'another mtime').toEqual({ cache: null, unpacked: true });
      fs.writeFileSync(main, `${text}\n`);
      fs.utimesSync(main, mtime, mtime);
      expect(tsboxIn(pkg, ['--version']).observed, 'another size').toEqual({ cache: null, unpacked: true });
    } finally {
      fs.writeFileSync(main, text);
      expect(pack(pkg)).toMatchObject({ status: 0 });
      pristine = readPristine();
    }
  }, 120_000);

  it('checks nothing in an installed package (no lib/), whose dist/ changes only with the packs', () => {
    fs.unlinkSync(path.join(pkg, 'lib'));
    const main = path.join(pkg, 'dist', 'cli', 'main.js');
    const mainText = fs.readFileSync(main, 'utf8');
    try {
      expect(pack(pkg, '--if-built')).toEqual({ status: 0, stderr: expect.stringMatching(/^pack-cli: /) });
      pristine = readPristine();
      for (const name of PACKS) expect(pristine.packs[name].toString('utf8'), name).toMatch(/^\/\/ tsbox-packed [0-9a-f]{16}\n/);
      fs.writeFileSync(main, `${mainText}\n`);
      expect(tsboxIn(pkg, ['--version']).observed).toEqual({ cache: 'accepted', unpacked: false });
      expect(tsboxIn(pkg, ['run', '--help']).observed).toEqual({ cache: 'accepted', unpacked: false });
    } finally {
      fs.writeFileSync(main, mainText);
      fs.symlinkSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'));
      expect(pack(pkg)).toMatchObject({ status: 0 });
      pristine = readPristine();
    }
  }, 120_000);

  it('runs the per-call commands for the light cache in a temp dir of its own, and leaves nothing there', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-tmp-'));
    try {
      expect(packWith({ TMPDIR: tmp }, pkg)).toMatchObject({ status: 0 });
      expect(fs.readdirSync(tmp)).toEqual([]);
      pristine = readPristine();
      expect(tsboxIn(pkg, ['--root', stateRoot, 'state', 'nope']).observed).toEqual({ cache: 'accepted', unpacked: false });
      // Without a temp dir, the cache holds less, and is a cache all the same.
      expect(packWith({ TMPDIR: path.join(tmp, 'missing') }, pkg)).toMatchObject({ status: 0 });
      pristine = readPristine();
      expect(tsboxIn(pkg, ['--root', stateRoot, 'state', 'nope']).observed).toEqual({ cache: 'accepted', unpacked: false });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }, 120_000);

  it('--if-built (npm install) does nothing before dist/ exists, and succeeds', () => {
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-bare-'));
    try {
      fs.mkdirSync(path.join(bare, 'scripts'));
      fs.copyFileSync(path.join(ROOT, 'scripts', 'pack-cli.js'), path.join(bare, 'scripts', 'pack-cli.js'));
      expect(pack(bare, '--if-built')).toEqual({ status: 0, stderr: '' });
      expect(fs.readdirSync(bare)).toEqual(['scripts']);
      // Without --if-built, a missing dist/ is an error.
      const r = pack(bare);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/dist\/cli\/main\.js is missing/);
    } finally {
      fs.rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe('the pack\'s module system (scripts/pack-cli.js on a small dist/)', () => {
  let dir: string;

  function write(file: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-modules-'));
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'pack-cli.js'), path.join(dir, 'scripts', 'pack-cli.js'));
    // What dist/tsbox is made from.
    fs.cpSync(path.join(ROOT, 'bin'), path.join(dir, 'bin'), { recursive: true });
    write('package.json', JSON.stringify({ name: 'fake-tsbox' }));
    // A checkout: the packs name the files they hold.
    fs.mkdirSync(path.join(dir, 'lib'));
    write('outside.js', 'exports.loads = (globalThis.outsideLoads = (globalThis.outsideLoads || 0) + 1);\n');
    write('dist/a.js', '"use strict";\nexports.loads = (globalThis.aLoads = (globalThis.aLoads || 0) + 1);\n');
    write('dist/sub/b.js', '"use strict";\nexports.a = require("../a.js");\nexports.again = require("./../a.js") === exports.a;\n');
    write(
      'dist/cli/main.js',
      [
        '"use strict";',
        'exports.filename = __filename;',
        'exports.dirname = __dirname;',
        'exports.b = require("../sub/b.js");',
        'exports.a = require("../a.js");',
        'exports.pkg = require("../../package.json").name;',
        'exports.outside = require("../../outside.js");',
        'exports.resolvedInside = require.resolve("../sub/b.js");',
        'exports.resolvedOutside = require.resolve("../../outside.js");',
        'exports.builtin = require("node:path") === require("path");',
        'exports.thisModule = module.exports === exports && module.filename === __filename;',
        '',
      ].join('\n'),
    );
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loads each module once, with its own __filename, and leaves the rest to Node', () => {
    expect(pack(dir)).toMatchObject({ status: 0 });
    const dist = path.join(dir, 'dist');
    const source = fs.readFileSync(path.join(dist, 'packed', 'cli.js'), 'utf8');
    const load = new vm.Script(source).runInThisContext()(createRequire(path.join(dir, 'bin', 'tsbox')), dist);
    const main = load('cli/main.js');
    expect(main).toMatchObject({
      filename: path.join(dist, 'cli', 'main.js'),
      dirname: path.join(dist, 'cli'),
      pkg: 'fake-tsbox',
      resolvedInside: path.join(dist, 'sub', 'b.js'),
      resolvedOutside: path.join(dir, 'outside.js'),
      builtin: true,
      thisModule: true,
    });
    expect(main.a).toBe(main.b.a);
    expect(main.b.again).toBe(true);
    expect(main.a.loads).toBe(1);
    expect(load('a.js')).toBe(main.a);
    expect(main.outside).toEqual({ loads: 1 });
  });

  it('resolves the relative require()s of the full pack\'s modules when it is made, by directory; anything else at the call', () => {
    expect(pack(dir)).toMatchObject({ status: 0 });
    const resolvedIn = (name: string) => JSON.parse(/\nconst resolved = (.*);\n/.exec(fs.readFileSync(path.join(dir, 'dist', 'packed', name), 'utf8'))![1]!);
    // Outside dist/ (package.json, outside.js) is left to the loader, which
    // the test above sees load them.
    expect(resolvedIn('cli.js')).toEqual({ cli: { '../sub/b.js': 'sub/b.js', '../a.js': 'a.js' }, sub: { '../a.js': 'a.js', './../a.js': 'a.js' } });
    expect(resolvedIn('cli-light.js')).toEqual({});
  });

  it('refuses a module that uses import() of something outside dist/, which a vm script cannot load', () => {
    write('dist/lazy.js', '"use strict";\nexports.later = () => import("node:fs");\n');
    try {
      const r = pack(dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/dist\/lazy\.js uses import\(\) of something not in dist\//);
    } finally {
      fs.rmSync(path.join(dir, 'dist', 'lazy.js'));
    }
  });

  it('turns a lazy import() of a module of its own into a require of the packed module', () => {
    write('dist/lazy.js', '"use strict";\nexports.later = () => import("./a.js");\n');
    try {
      const r = pack(dir);
      expect(r.status).toBe(0);
      const packed = fs.readFileSync(path.join(dir, 'dist', 'packed', 'cli.js'), 'utf8');
      expect(packed).toContain('Promise.resolve().then(() => require("./a.js"))');
      expect(packed).not.toMatch(/\bimport\(/);
    } finally {
      fs.rmSync(path.join(dir, 'dist', 'lazy.js'));
    }
  });

  it('loads a module the light pack does not hold from dist/, its import() of a module of its own made a require too', async () => {
    write('dist/lazy.js', '"use strict";\nexports.later = () => import("./sub/b.js");\n');
    try {
      expect(pack(dir)).toMatchObject({ status: 0 });
      const dist = path.join(dir, 'dist');
      const source = fs.readFileSync(path.join(dist, 'packed', 'cli-light.js'), 'utf8');
      // Only what cli/main.js loads is in it.
      expect(modulesIn(source)).toEqual(['a.js', 'cli/main.js', 'sub/b.js']);
      const load = new vm.Script(source).runInThisContext()(createRequire(path.join(dir, 'bin', 'tsbox')), dist);
      const main = load('cli/main.js');
      const lazy = load('lazy.js');
      await expect(lazy.later()).resolves.toBe(main.b);
    } finally {
      fs.rmSync(path.join(dir, 'dist', 'lazy.js'));
    }
  });
});
