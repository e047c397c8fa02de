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
//                                a header naming the files it was made from
//   dist/packed/cli.cache        V8's code cache for cli.js, made by this Node,
//                                with every function: for create, run, exec
//   dist/packed/cli-light.cache  the same with only what the per-call
//                                commands load: for state, start, kill, ...
//
// The module system inside the pack is CommonJS as tsc emits it: require()
// of a relative path inside dist/ gets the packed module, anything else
// (node:*, node-gyp-build, package.json, the addon) goes to Node's require.

const fs = require('node:fs');
const path = require('node:path');
const { randomBytes } = require('node:crypto');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const OUT = path.join(DIST, 'packed');
// The cache file: a line with this, the pack's build id and the length of
// V8's cache, then the cache twice. V8 checks that a cache was made by the
// same V8 with the same flags for a source of the same length, but neither
// the source's text (hence the build id) nor, on Node 20, its own payload: a
// damaged cache aborts the process. The second copy is the cheapest check
// there is (a hash costs more than the cache saves: node:crypto alone takes
// ~3 ms to load); a damaged copy no longer matches the other.
const CACHE_MAGIC = 'tsbox-cache ';
// Modules only some calls need: only named in the pack, and read from
// dist/ and compiled when first required. Every module in the code cache is
// paid for by every CLI call (V8 reads the whole cache, ~2 instructions per
// byte of source, before any command runs), so the cache holds only what
// the calls engines make per container need (create, start, state, kill,
// delete, list, run, exec, --version): not the systemd driver's D-Bus
// client (a fifth of the cache, for a flag most callers never give; the
// driver itself is small and loads the client with import()), the
// commands people type now and then, their cgroup readers, the help text,
// the library's entry point, and the NOTIFY_SOCKET relay (only for
// systemd Type=notify units). They may not use import() (the rewrite
// below is not applied to them).
const COLD = /^(systemd\/(?!(driver|unit-name)\.js$)|cgroups\/(stats|oom)\.js$|cli\/commands\/(events|features|pause|ps|resume|spec|update)\.js$|cli\/help\.js$|index\.js$|notify-socket\.js$)/;

/** Every .js file under dist/ (but the pack itself), sorted: relative path with '/'. */
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

function pack() {
  if (!fs.existsSync(path.join(DIST, 'cli', 'main.js'))) throw new Error('dist/cli/main.js is missing: run tsc first');
  const keys = modules();
  // What the loader checks before trusting the pack: each file's size and
  // mtime (the pack is stale once tsc rewrote any of them).
  const files = keys.map((k) => {
    const st = fs.statSync(path.join(DIST, k));
    return [k, st.size, st.mtimeMs];
  });
  const build = randomBytes(8).toString('hex');
  const parts = [];
  // Line 1: the header, read by bin/tsbox without compiling anything.
  parts.push(`// tsbox-packed ${JSON.stringify({ build, files })}\n`);
  parts.push('(function (nodeRequire, dist) {\n');
  parts.push('const defs = {\n');
  for (const k of keys) {
    // A script compiled by vm has no loader for import(). A lazy import()
    // of one of our own modules (lib/ uses it where vitest, running the
    // TypeScript sources, could not require() them) becomes a require of
    // the packed module; any other import() would fail only when packed,
    // so it is refused here, where someone will see it.
    const source = fs.readFileSync(path.join(DIST, k), 'utf8');
    if (COLD.test(k)) {
      if (/\bimport\s*\(/.test(source)) throw new Error(`dist/${k} is loaded unpacked and may not use import(): use require()`);
      parts.push(`${JSON.stringify(k)}: 0,\n`);
      continue;
    }
    const src = source
      .replace(/^#!.*/, '')
      .replace(/\bimport\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*\)/g, (_, q, spec) => `Promise.resolve().then(() => require(${q}${spec}${q}))`);
    if (/\bimport\s*\(/.test(src)) throw new Error(`dist/${k} uses import() of something not in dist/, which the pack cannot load: use require()`);
    parts.push(`${JSON.stringify(k)}: function (exports, require, module, __filename, __dirname) {\n${src}\n},\n`);
  }
  parts.push('};\n');
  parts.push(LOADER);
  parts.push('})\n');
  return { source: parts.join(''), build, count: keys.length };
}

// The module system of the pack (runs inside the wrapper above).
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
    const source = nodeRequire('node:fs').readFileSync(filename, 'utf8');
    defs[key] = nodeRequire('node:vm').compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
  }
  defs[key].call(module.exports, module.exports, requireFrom(dirname), module, filename, dirname);
  module.loaded = true;
  return module.exports;
}
function requireFrom(dir) {
  /** The pack's key for a path inside dist/, or undefined for anything else. */
  const keyOf = (spec) => {
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
 * V8's code cache for the pack, made in a fresh Node (the cache records the
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

function writeAtomic(file, data) {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

// What the light cache holds compiled: these modules' top levels (and the
// modules they load). The commands engines call per container around
// create: bin/tsbox reads this cache for every command but create, run and
// exec.
const LIGHT = ['cli/main.js', ...['state', 'start', 'kill', 'delete', 'list'].map((c) => `cli/commands/${c}.js`)];

/**
 * In the child. 'full': compiles the pack with every function compiled
 * eagerly, so that the cache holds all of them. V8 compiles a function when
 * it is first called otherwise, and on the create/start path that costs
 * more than reading the bigger cache (measured: ~10 ms less for
 * `tsbox run`). The flag is set back before the cache is taken: V8 refuses
 * a cache made under other flags.
 * 'light': compiles it lazily and loads the LIGHT modules (their top levels
 * run: they only define things), so that the cache holds what those
 * commands compile, a sixth of the full cache: reading and deserializing
 * the full one cost a per-call command more than compiling the rest of its
 * functions (measured: ~1.5 ms of CPU less for `tsbox state`).
 */
function cacheChild(kind, file, cacheFile) {
  const v8 = require('node:v8');
  const vm = require('node:vm');
  const source = fs.readFileSync(file, 'utf8');
  let script;
  if (kind === 'full') {
    v8.setFlagsFromString('--no-lazy');
    script = new vm.Script(source, { filename: file });
    v8.setFlagsFromString('--lazy');
  } else {
    script = new vm.Script(source, { filename: file });
    const load = script.runInThisContext()(require, path.dirname(path.dirname(file)));
    const packed = new Set(JSON.parse(source.slice(source.indexOf('{'), source.indexOf('\n'))).files.map(([name]) => name));
    for (const key of LIGHT) if (packed.has(key)) load(key);
  }
  const build = JSON.parse(source.slice(source.indexOf('{'), source.indexOf('\n'))).build;
  const data = script.createCachedData();
  writeAtomic(cacheFile, Buffer.concat([Buffer.from(`${CACHE_MAGIC}${build} ${data.length}\n`), data, data]));
}

/** The command: the pack, then its cache. */
function packCommand(ifBuilt) {
  // --if-built (npm's install step): nothing to do before prepare has
  // compiled dist/ in a fresh checkout; in an installed package, it remakes
  // the pack for this machine's Node. A failure only warns there: the CLI
  // works without the pack, just slower.
  if (ifBuilt && !fs.existsSync(path.join(DIST, 'cli', 'main.js'))) return 0;
  try {
    const { source, count } = pack();
    fs.mkdirSync(OUT, { recursive: true });
    const file = path.join(OUT, 'cli.js');
    const cacheFile = path.join(OUT, 'cli.cache');
    const lightFile = path.join(OUT, 'cli-light.cache');
    writeAtomic(file, source);
    makeCache(file, cacheFile, 'full');
    makeCache(file, lightFile, 'light');
    const size = fs.statSync(cacheFile).size;
    const light = fs.statSync(lightFile).size;
    process.stderr.write(
      `pack-cli: ${count} modules -> dist/packed/cli.js (${source.length} bytes), cli.cache (${size} bytes), cli-light.cache (${light} bytes), node ${process.version}\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`pack-cli: ${ifBuilt ? 'warning: ' : ''}${err.message}\n`);
    return ifBuilt ? 0 : 1;
  }
}

if (process.argv[2] === '--make-cache') {
  cacheChild(process.argv[3], process.argv[4], process.argv[5]);
} else {
  process.exitCode = packCommand(process.argv.includes('--if-built'));
}
