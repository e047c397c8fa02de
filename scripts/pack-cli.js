'use strict';
// Packs the compiled CLI (dist/**/*.js, from tsc) into one file plus V8's
// code cache for it, so that a CLI call reads two files and compiles nothing,
// instead of resolving, reading and compiling ~30 modules one by one (see
// bin/tsbox, which loads it, and falls back to dist/cli/main.js whenever the
// pack is missing or stale, or compiles it without the cache when that is
// damaged or made by another Node).
//
//   node scripts/pack-cli.js [--if-built]   (run by npm's install and prepare steps, `npm run build`)
//
// Output, inside the package (never a shared writable directory: root runs
// this code):
//   dist/packed/cli.js           every dist module wrapped in a function, with
//                                a header naming the files it was made from:
//                                for create, run and exec
//   dist/packed/cli.cache        V8's code cache for cli.js, made by this Node,
//                                with every function
//   dist/packed/cli-state.js     for each command engines call per container
//   (and -list, -start, -kill,   (PER_CALL below): only the modules it loads
//   -delete)                     (the rest is read from dist/ if it needs it)
//   dist/packed/cli-state.cache  V8's code cache for it, with what that
//   (...)                        command compiles
//   dist/packed/cli-light.js     the modules all of those load, for any other
//                                command (ps, pause, features, --version...)
//   dist/packed/cli-light.cache  V8's code cache for cli-light.js, with what
//                                the per-call commands compile
//   dist/tsbox                   bin/tsbox with a first line naming this Node
//                                (#!/path/to/node): the entry for engines,
//                                which spares every call /usr/bin/env
//
// The module system inside a pack is CommonJS as tsc emits it: require()
// of a relative path inside dist/ gets the packed module, anything else
// (node:*, node-gyp-build, package.json, the addon) goes to Node's require.

const fs = require('node:fs');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { spawnSync } = require('node:child_process');
const vm = require('node:vm');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(DIST, 'packed');
const ENTRY = path.join(DIST, 'tsbox');
// The cache file: a line with this, the pack's build id and the length of
// V8's cache, then the cache twice. V8 checks that a cache was made by the
// same V8 with the same flags for a source of the same length, but neither
// the source's text (hence the build id) nor, on Node 20, its own payload: a
// damaged cache aborts the process. The second copy is the cheapest check
// there is (a hash costs more than the cache saves: node:crypto alone takes
// ~3 ms to load); a damaged copy no longer matches the other.
const CACHE_MAGIC = 'tsbox-cache ';
// Modules the full pack only names, read from dist/ and compiled when first
// required. Every module in a code cache is paid for by every call that
// reads it (V8 reads the whole cache, ~2 instructions per byte of source,
// before any command runs), so the full cache holds only what create, run
// and exec need: not the systemd driver's D-Bus client (a fifth of the
// cache, for a flag most callers never give; the driver itself is small and
// loads the client with import()), any other command (each reads a pack of
// its own or the light one) and what only they load (CRIU, the tables of
// list, the cgroup readers of events), the sub-cgroups of an exec --cgroup,
// the help text, the library's entry point and its helper server, modules
// of types alone, and the NOTIFY_SOCKET relay (only for systemd
// Type=notify units).
const COLD = /^(systemd\/(?!(driver|unit-name)\.js$)|cgroups\/(stats|oom|sub-cgroups)\.js$|cli\/commands\/(?!(create|run|exec)\.js$)|cli\/(criu-options|format|table|help)\.js$|criu\/|helper-server\.js$|index\.js$|notify-socket\.js$|native\/protocol\.js$|plan\/plan\.js$)/;

// The commands engines call per container around create, each with a pack
// of its own (cli-<command>.js, read by bin/tsbox for that command): only
// the modules it loads, and a cache of only what it compiles, since every
// byte of either is paid by every call (state and list read the state store
// alone; start, kill and delete load the Runtime when they run). Each holds
// these modules and what their top levels load; `runs` are the rehearsal's
// calls of it (see rehearse).
const PER_CALL = {
  state: { entries: [], runs: [['state', 'live'], ['state', 'nope']] },
  list: { entries: [], runs: [['list'], ['list', '-f', 'json']] },
  start: { entries: ['runtime/runtime.js'], runs: [['start', 'stopped']] },
  kill: { entries: ['runtime/runtime.js'], runs: [['kill', 'live', 'WINCH']] },
  // delete removes a container's cgroups: the Runtime loads destroy.js and
  // the cgroup drivers only then (start and kill need none of them).
  delete: { entries: ['runtime/runtime.js', 'destroy.js'], runs: [['delete', 'stopped']] },
};
// The light pack, for every other command (bin/tsbox reads it for all but
// create, run, exec and the PER_CALL ones: the commands people type now and
// then): what all the PER_CALL commands load, rehearsed with all of them.
const LIGHT = {
  entries: ['cli/main.js', ...Object.keys(PER_CALL).map((c) => `cli/commands/${c}.js`), 'runtime/runtime.js', 'destroy.js'],
  runs: Object.values(PER_CALL).flatMap((c) => c.runs),
};

/** What a pack other than the full one holds and rehearses: 'light', or one of PER_CALL. */
function lightKind(kind) {
  if (kind === 'light') return LIGHT;
  const c = PER_CALL[kind];
  return { entries: ['cli/main.js', `cli/commands/${kind}.js`, ...c.entries], runs: c.runs };
}

/**
 * A script compiled by vm has no loader for import(). A lazy import() of
 * one of our own modules (lib/ uses it where vitest, running the TypeScript
 * sources, could not require() them) becomes a require of that module,
 * packed or read from dist/. Applied to packed modules here and to the
 * others by the pack's loader when it reads them (it is pasted into
 * LOADER): one rewrite for both.
 */
function requireForImport(source) {
  return source.replace(/\bimport\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*\)/g, (_, q, spec) => `Promise.resolve().then(() => require(${q}${spec}${q}))`);
}

/** Every .js file under dist/ (but the packs), sorted: relative path with '/'. */
function modules() {
  const out = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        if (p !== OUT && !e.name.startsWith('.')) walk(p);
      } else if (e.name.endsWith('.js')) {
        out.push(path.relative(DIST, p).split(path.sep).join('/'));
      }
    }
  };
  walk(DIST);
  return out.sort();
}

/**
 * A pack of every module of dist/, holding the code of those `packs` says
 * and naming the others (read from dist/ when required). `resolveHere`:
 * the relative require()s of the modules it holds are resolved here, once,
 * rather than by the loader at every call (see resolvedRequires).
 */
function pack(packs, resolveHere = false) {
  if (!fs.existsSync(path.join(DIST, 'cli', 'main.js'))) throw new Error('dist/cli/main.js is missing: run tsc first');
  const keys = modules();
  // What the loader checks before trusting the pack, in a checkout: the
  // size and mtime of dist/cli/main.js, which every run of tsc rewrites (as
  // every file it emits, in place, even when unchanged): one stat instead
  // of one per packed module (~1 M instructions for state's 19). Nothing in
  // an installed package, which has no lib/ to compile dist/ from: there
  // dist/ changes only when npm installs the package again, which makes
  // the packs again.
  const main = fs.statSync(path.join(DIST, 'cli', 'main.js'));
  const stamp = fs.existsSync(path.join(ROOT, 'lib')) ? ` ${main.size} ${main.mtimeMs}` : '';
  const build = randomBytes(8).toString('hex');
  const parts = [];
  // Line 1: the header, read by bin/tsbox without compiling anything:
  // the build id (16 hex digits, at a fixed place), then the stamp.
  parts.push(`// tsbox-packed ${build}${stamp}\n`);
  parts.push('(function (nodeRequire, dist) {\n');
  parts.push('const defs = {\n');
  const held = [];
  for (const k of keys) {
    const src = requireForImport(fs.readFileSync(path.join(DIST, k), 'utf8').replace(/^#!.*/, ''));
    // Any other import() would fail only when packed, so it is refused
    // here, where someone will see it.
    if (/\bimport\s*\(/.test(src)) throw new Error(`dist/${k} uses import() of something not in dist/, which the pack cannot load: use require()`);
    if (packs(k)) {
      parts.push(`${JSON.stringify(k)}: function (exports, require, module, __filename, __dirname) {\n${src}\n},\n`);
      held.push([k, src]);
    } else {
      parts.push(`${JSON.stringify(k)}: 0,\n`);
    }
  }
  parts.push('};\n');
  parts.push(`const resolved = ${JSON.stringify(resolveHere ? resolvedRequires(held, new Set(keys)) : {})};\n`);
  parts.push(LOADER);
  parts.push('})\n');
  return { source: parts.join(''), build, count: keys.filter(packs).length };
}

/**
 * Where the relative require()s written in these modules lead: for each
 * directory of dist/ ('' for dist/ itself), each specifier written there
 * that names a module of dist/, and that module's key. A specifier means
 * the same for every module of a directory, so the loader looks up its
 * module's directory and then the specifier, and resolves only what is not
 * there (a computed one, or a file outside dist/). Resolving in the loader
 * (splitting and joining the paths) cost a `tsbox run`, ~200 require()s,
 * ~0.5 ms of CPU and ~250 KB of new objects (a quarter of the young
 * generation: what set off its one scavenge).
 */
function resolvedRequires(held, keys) {
  const out = {};
  for (const [key, src] of held) {
    const dir = path.posix.dirname(key) === '.' ? '' : path.posix.dirname(key);
    for (const [, , spec] of src.matchAll(/\brequire\((['"])(\.{1,2}\/[^'"]+)\1\)/g)) {
      const target = path.posix.normalize(path.posix.join(dir, spec));
      if (keys.has(target)) (out[dir] ??= {})[spec] = target;
    }
  }
  return out;
}

// The module system of a pack (runs inside the wrapper above). loadedKeys
// tells the packer which modules the light pack needs.
const LOADER = `
const loaded = Object.create(null);
function load(key) {
  const cached = loaded[key];
  if (cached !== undefined) return cached.exports;
  const filename = dist + '/' + key;
  const dirname = filename.slice(0, filename.lastIndexOf('/'));
  const module = { exports: {}, filename, id: filename, loaded: false };
  loaded[key] = module;
  if (defs[key] === 0) {
    const source = requireForImport(nodeRequire('node:fs').readFileSync(filename, 'utf8'));
    defs[key] = nodeRequire('node:vm').compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
  }
  defs[key].call(module.exports, module.exports, requireFrom(dirname), module, filename, dirname);
  module.loaded = true;
  return module.exports;
}
load.loadedKeys = () => Object.keys(loaded);
${requireForImport.toString()}
function requireFrom(dir) {
  const known = resolved[dir.length > dist.length ? dir.slice(dist.length + 1) : ''];
  /** The pack's key for a path inside dist/, or undefined for anything else. */
  const keyOf = (spec) => {
    // Only a relative specifier is looked up: no other can be one of known's keys or its prototype's.
    const found = known !== undefined && spec[0] === '.' ? known[spec] : undefined;
    if (found !== undefined) return found;
    if (!spec.startsWith('./') && !spec.startsWith('../') && !spec.startsWith('/')) return undefined;
    const abs = resolve(dir, spec);
    const key = abs.startsWith(dist + '/') ? abs.slice(dist.length + 1) : undefined;
    return key !== undefined && key in defs ? key : undefined;
  };
  const local = (spec) => (spec.startsWith('.') ? resolve(dir, spec) : spec);
  function require(spec) {
    const key = keyOf(spec);
    return key !== undefined ? load(key) : nodeRequire(local(spec));
  }
  require.resolve = (spec) => {
    const key = keyOf(spec);
    return key !== undefined ? dist + '/' + key : nodeRequire.resolve(local(spec));
  };
  return require;
}
/** path.resolve for '/'-separated paths. */
function resolve(dir, spec) {
  const out = spec.startsWith('/') ? [] : dir.split('/');
  for (const part of spec.split('/')) {
    if (part === '..') out.pop();
    else if (part !== '.' && part !== '') out.push(part);
  }
  return '/' + out.filter(Boolean).join('/');
}
return load;
`;

/**
 * The modules a light or PER_CALL pack holds: those its entries load when
 * their top levels run (they only define things), found by loading them
 * from the full pack in this process.
 */
function lightModules(fullSource, kind) {
  const load = new vm.Script(fullSource).runInThisContext()(require, DIST);
  for (const key of lightEntries(kind)) load(key);
  return new Set(load.loadedKeys());
}

/** The entries of a light or PER_CALL pack that there are in dist/. */
function lightEntries(kind) {
  const keys = new Set(modules());
  return lightKind(kind).entries.filter((k) => keys.has(k));
}

/**
 * V8's code cache for a pack, made in a fresh Node (the cache records the
 * V8 flags in force, which must be the defaults bin/tsbox runs with).
 */
function makeCache(file, cacheFile, kind) {
  const r = spawnSync(process.execPath, [__filename, '--make-cache', kind, file, cacheFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  if (r.status !== 0) throw new Error(`making the code cache failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}

function writeAtomic(file, data, mode = 0o644) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode });
  fs.renameSync(tmp, file);
}

/**
 * dist/tsbox: bin/tsbox itself (it finds dist/ as `../dist` from either
 * place) with a first line naming the Node that runs this, which also made
 * the code caches. `#!/usr/bin/env node` costs every call an exec of env
 * (a dynamic program that reads the locale's files: ~1-1.5 ms); engines
 * call the runtime several times per container. Made anew by every run
 * (another Node, another path); once that Node is gone, exec'ing it fails
 * as any missing interpreter does, and bin/tsbox is the portable entry.
 * The kernel reads a #! line up to its first space or tab and 256 bytes:
 * a Node whose path does not fit gets no entry, said in a warning.
 */
function writeEntry() {
  const line = `#!${process.execPath}\n`;
  if (/\s/.test(process.execPath) || Buffer.byteLength(line) > 256) {
    fs.rmSync(ENTRY, { force: true });
    process.stderr.write(`pack-cli: warning: no dist/tsbox: ${JSON.stringify(process.execPath)} cannot be named on a #! line (white space, or longer than 253 bytes); use bin/tsbox\n`);
    return [];
  }
  const bin = fs.readFileSync(path.join(ROOT, 'bin', 'tsbox'), 'utf8');
  writeAtomic(ENTRY, line + bin.replace(/^#!.*\n/, ''), 0o755);
  return [`dist/tsbox (#!${process.execPath})`];
}

/**
 * In the child. 'full': compiles the full pack with every function
 * compiled eagerly, so that the cache holds all of them. V8 compiles a
 * function when it is first called otherwise, and on the create/start path
 * that costs more than reading the bigger cache (measured: ~10 ms less for
 * `tsbox run`). The flag is set back before the cache is taken: V8 refuses
 * a cache made under other flags.
 * 'light' or a PER_CALL command: compiles its pack lazily, loads its
 * entries and runs its commands once (rehearse), so that the cache holds
 * what those commands compile: reading and deserializing every function cost a
 * per-call command more than compiling the few it runs (measured: ~1.5 ms
 * of CPU less for `tsbox state`), and compiling those it runs cost it ~1 ms
 * more than finding them in the cache.
 */
async function cacheChild(kind, file, cacheFile) {
  const v8 = require('node:v8');
  const source = fs.readFileSync(file, 'utf8');
  let script;
  if (kind === 'full') {
    v8.setFlagsFromString('--no-lazy');
    script = new vm.Script(source, { filename: file });
    v8.setFlagsFromString('--lazy');
  } else {
    script = new vm.Script(source, { filename: file });
    const load = script.runInThisContext()(require, DIST);
    for (const key of lightEntries(kind)) load(key);
    await rehearse(load, lightKind(kind).runs);
  }
  const build = source.slice(16, 32);
  const data = script.createCachedData();
  writeAtomic(cacheFile, Buffer.concat([Buffer.from(`${CACHE_MAGIC}${build} ${data.length}\n`), data, data]));
}

/**
 * Runs commands (`runs`: state, list, kill, start, delete) through the
 * CLI's main, on containers made up in a temp state root: a live one (its
 * init is this process: kill sends it SIGWINCH, which it ignores) and a
 * stopped one (the same pid with another start time). Only the commands'
 * own code runs: no container, no cgroup, nothing outside the temp dir.
 * The records are written here rather than by the state store, whose
 * writing functions would go into a cache that no reading command needs.
 * Their output goes to this process's stdout and stderr (the parent
 * discards stdout), and what fails only leaves those functions out of the
 * cache.
 */
async function rehearse(load, runs) {
  let root;
  try {
    root = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'tsbox-pack-'));
    const { main } = load('cli/main.js');
    // /proc/<pid>/stat's field 22 (the fields after the command name's ')').
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    for (const [id, pidStartTime] of [['live', startTime], ['stopped', 'not-this-one']]) {
      fs.mkdirSync(path.join(root, id), { mode: 0o700 });
      const record = { id, pid: process.pid, pidStartTime, bundle: root, rootfs: root, created: new Date().toISOString(), owner: 'root', annotations: {} };
      fs.writeFileSync(path.join(root, id, 'state.json'), JSON.stringify(record), { mode: 0o600 });
    }
    for (const args of runs) {
      await main(['--root', root, ...args]);
    }
  } catch {
    // The cache holds less: still a cache for this pack.
  } finally {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  }
}

/** The command: the packs (full, light and PER_CALL), each with its cache. */
function packCommand(ifBuilt) {
  // --if-built (npm's install step): nothing to do before prepare has
  // compiled dist/ in a fresh checkout; in an installed package, it remakes
  // the packs for this machine's Node. A failure only warns there: the CLI
  // works without them, just slower.
  if (ifBuilt && !fs.existsSync(path.join(DIST, 'cli', 'main.js'))) return 0;
  try {
    fs.mkdirSync(OUT, { recursive: true });
    const full = pack((k) => !COLD.test(k), true);
    const entry = writeEntry();
    const holding = (kind) => ((keys) => (k) => keys.has(k))(lightModules(full.source, kind));
    const packs = [['cli', full, 'full'], ...['light', ...Object.keys(PER_CALL)].map((kind) => [`cli-${kind}`, pack(holding(kind)), kind])];
    const report = [...entry];
    for (const [name, p, kind] of packs) {
      const file = path.join(OUT, `${name}.js`);
      const cacheFile = path.join(OUT, `${name}.cache`);
      writeAtomic(file, p.source);
      makeCache(file, cacheFile, kind);
      report.push(`dist/packed/${name}.js (${p.count} modules, ${p.source.length} bytes) + ${name}.cache (${fs.statSync(cacheFile).size} bytes)`);
    }
    process.stderr.write(`pack-cli: ${report.join(', ')}, node ${process.version}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`pack-cli: ${ifBuilt ? 'warning: ' : ''}${err.message}\n`);
    return ifBuilt ? 0 : 1;
  }
}

if (process.argv[2] === '--make-cache') {
  cacheChild(process.argv[3], process.argv[4], process.argv[5]).catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  });
} else {
  process.exitCode = packCommand(process.argv.includes('--if-built'));
}
