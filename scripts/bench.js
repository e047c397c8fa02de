'use strict';
// Start-up benchmark: how long it takes to run /bin/true in a busybox
// container with the tsbox CLI, runc and crun (one hyperfine run, so the
// ratios compare like with like), and with the library in this process.
// A report, not a test: it exits 0 when a target is missed, and non-zero
// only when tsbox (CLI or library) cannot run the bundle at all.
//
//   node scripts/bench.js [--quick] [--json FILE]
//
// Needs root, a static /bin/busybox, hyperfine; runc and crun are optional.
// Everything (bundles, runc/crun --root state) lives in one temp dir that is
// removed at exit, on SIGINT/SIGTERM and on errors.

const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..');
const TSBOX_BIN = path.join(ROOT, 'bin', 'tsbox');
const DIST_INDEX = path.join(ROOT, 'dist', 'index.js');
const BUSYBOX = '/bin/busybox';

// ---- options ----------------------------------------------------------------

function usage(status) {
  (status === 0 ? process.stdout : process.stderr).write(
    'usage: node scripts/bench.js [--quick] [--json FILE]\n' +
      '  --quick      few runs (CI): warmup 3, runs 15, library N=50\n' +
      '  --json FILE  also write every number (and raw times) to FILE\n',
  );
  process.exit(status);
}

function parseArgs(argv) {
  const opts = { quick: false, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') {
      if (i + 1 >= argv.length) usage(2);
      opts.json = path.resolve(argv[++i]);
    } else if (a.startsWith('--json=')) opts.json = path.resolve(a.slice('--json='.length));
    else if (a === '--help' || a === '-h') usage(0);
    else {
      process.stderr.write(`bench: unknown argument "${a}"\n`);
      usage(2);
    }
  }
  const p = opts.quick
    ? { warmup: 3, runs: 15, libWarmup: 5, libN: 50, concurrency: 50, concurrentRounds: 2 }
    : { warmup: 10, runs: 60, libWarmup: 20, libN: 300, concurrency: 50, concurrentRounds: 5 };
  return { ...opts, ...p };
}

// ---- environment ------------------------------------------------------------

// Node reads the whole CA bundle at start-up when this is set (~35 ms here):
// it would be charged to every Node-based command. Children inherit
// process.env, so deleting it here covers hyperfine and all it runs.
const caCerts = process.env.NODE_EXTRA_CA_CERTS;
delete process.env.NODE_EXTRA_CA_CERTS;

// ---- temp dir and clean-up ----------------------------------------------------

const state = {
  tmp: null,
  child: null, // the running hyperfine, if any
  interrupted: null, // signal name once asked to stop
  cleaned: false,
  containerId: `tsbox-bench-${process.pid}`,
};

function mountsUnder(dir) {
  let real;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return [];
  }
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(' ')[4] || '').replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === real || m.startsWith(real + '/'));
}

function crunWrapped(script) {
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `umount /sys/fs/cgroup/unified; exec ${script}`];
}

/** Synchronous so that it can run from 'exit' too. Idempotent. */
function cleanup() {
  if (state.cleaned || !state.tmp) return;
  state.cleaned = true;
  const { tmp, containerId: id } = state;
  const quiet = { stdio: 'ignore', timeout: 10000 };
  // A container left behind by an interrupted run, in our own --root only.
  const runcRoot = path.join(tmp, 'runc');
  if (fs.existsSync(path.join(runcRoot, id))) spawnSync('runc', ['--root', runcRoot, 'delete', '-f', id], quiet);
  for (const other of Object.values(stateIds(id))) {
    if (fs.existsSync(path.join(runcRoot, other))) spawnSync('runc', ['--root', runcRoot, 'delete', '-f', other], quiet);
    const tsboxRoot = path.join(tmp, 'tsbox');
    if (fs.existsSync(path.join(tsboxRoot, other))) spawnSync(process.execPath, [TSBOX_BIN, '--root', tsboxRoot, 'delete', '-f', other], quiet);
  }
  const crunRoot = path.join(tmp, 'crun');
  if (fs.existsSync(path.join(crunRoot, id))) {
    const [cmd, ...args] = crunWrapped(`crun --root ${sq(crunRoot)} delete -f ${id}`);
    spawnSync(cmd, args, quiet);
  }
  const live = mountsUnder(tmp);
  if (live.length > 0) {
    process.stderr.write(`bench: NOT removing ${tmp}: mounts still present: ${live.join(', ')}\n`);
    return;
  }
  try {
    fs.rmSync(tmp, { recursive: true, force: true });
  } catch (err) {
    process.stderr.write(`bench: could not remove ${tmp}: ${err.message}\n`);
  }
}

function onSignal(signal) {
  if (state.interrupted) {
    // Second signal: stop waiting for anything.
    cleanup();
    process.exit(128 + os.constants.signals[signal]);
  }
  state.interrupted = signal;
  process.stderr.write(`\nbench: ${signal}, stopping and cleaning up\n`);
  if (state.child && state.child.exitCode === null && state.child.signalCode === null) {
    state.child.kill('SIGTERM'); // hyperfine, which we started
  }
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);
process.on('exit', cleanup);

class Interrupted extends Error {}
function checkInterrupted() {
  if (state.interrupted) throw new Interrupted(state.interrupted);
}

// ---- small utilities -----------------------------------------------------------

/** POSIX-shell quoting; hyperfine -N splits commands with the same rules. */
function sq(s) {
  return /^[A-Za-z0-9_\/.,:=+@%-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** Stats in ms from a list of ms. */
function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  const n = s.length;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return {
    n,
    median: quantile(s, 0.5),
    mean,
    sd,
    p10: quantile(s, 0.1),
    p90: quantile(s, 0.9),
    min: s[0],
    max: s[n - 1],
  };
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function firstLine(text) {
  return (
    String(text || '')
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() || ''
  );
}

function versionOf(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout.split('\n')[0].trim();
}

// ---- the bundles ------------------------------------------------------------------

function buildBundles(tmp, defaultSpec) {
  const bundle = path.join(tmp, 'bundle');
  const rootfs = path.join(bundle, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync(BUSYBOX, path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  execFileSync('chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin'], { stdio: 'pipe' });
  for (const [d, mode] of [['proc', 0o555], ['sys', 0o555], ['dev', 0o755], ['etc', 0o755], ['tmp', 0o1777]]) {
    fs.mkdirSync(path.join(rootfs, d), { recursive: true });
    fs.chmodSync(path.join(rootfs, d), mode);
  }
  if (!fs.existsSync(path.join(rootfs, 'bin', 'true'))) throw new Error('busybox --install did not create /bin/true');

  // `runc spec`'s default (tsbox's copy of it) with the brief's changes.
  const spec = defaultSpec({ args: ['/bin/true'] });
  // crun 1.8 rejects any ociVersion but 1.0.x ("unknown version specified");
  // runc 1.1's `runc spec` writes 1.0.2-dev, so use that for every runtime.
  spec.ociVersion = '1.0.2-dev';
  spec.process.terminal = false;
  spec.linux.namespaces = ['pid', 'network', 'ipc', 'uts', 'mount'].map((type) => ({ type }));
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec, null, 2) + '\n');

  // The library's minimal config: same rootfs, only the namespaces,
  // pivot_root (the default) and /proc.
  const minimal = path.join(tmp, 'bundle-minimal');
  fs.mkdirSync(minimal);
  const min = {
    ociVersion: spec.ociVersion,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['/bin/true'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      cwd: '/',
    },
    root: { path: rootfs },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: ['pid', 'mount', 'uts', 'ipc', 'network'].map((type) => ({ type })) },
  };
  fs.writeFileSync(path.join(minimal, 'config.json'), JSON.stringify(min, null, 2) + '\n');
  return { bundle, rootfs, minimal, spec, min };
}

// ---- the commands -------------------------------------------------------------------

function commands(tmp, bundle, id) {
  const node = process.execPath;
  // Every runtime keeps its state under the benchmark's temp dir.
  const tsboxRoot = path.join(tmp, 'tsbox');
  const runcRoot = path.join(tmp, 'runc');
  const crunRoot = path.join(tmp, 'crun');
  const crunScript = `crun --root ${sq(crunRoot)} run -b ${sq(bundle)} ${id}`;
  const tsbox = (...args) => [node, TSBOX_BIN, '--root', tsboxRoot, ...args];
  const runc = (...args) => ['runc', '--root', runcRoot, ...args];
  // What an engine does per container: three calls (create's stdio is the
  // container's, so it gets /dev/null, not hyperfine's pipe).
  const lifecycle = (cli) => {
    const c = `${stateIds(id).lifecycle}`;
    const script = `${cli('create', '-b', bundle, c).map(sq).join(' ')} </dev/null >/dev/null && ${cli('start', c).map(sq).join(' ')} && ${cli('delete', '-f', c).map(sq).join(' ')}`;
    return ['sh', '-c', script];
  };
  const created = stateIds(id).created;
  return [
    { key: 'node', name: 'node -e 0 (Node start-up floor)', argv: [node, '-e', '0'] },
    { key: 'tsbox-version', name: 'tsbox --version', argv: [node, TSBOX_BIN, '--version'] },
    // The same without the pack (dist/ module by module, as before
    // scripts/pack-cli.js), for comparison; `env` adds ~1 ms.
    { key: 'tsbox-version-unpacked', name: 'tsbox --version (unpacked, via env)', argv: ['env', 'TSBOX_UNPACKED=1', node, TSBOX_BIN, '--version'] },
    { key: 'tsbox', name: 'tsbox run', argv: tsbox('run', '-b', bundle, id), required: true },
    { key: 'runc', name: 'runc run', argv: runc('run', '-b', bundle, id) },
    { key: 'crun', name: 'crun run (in wrapper)', argv: crunWrapped(crunScript) },
    { key: 'crun-wrapper', name: 'crun wrapper alone', argv: crunWrapped('true') },
    { key: 'unshare', name: 'unshare -fpmiun --mount-proc true', argv: ['unshare', '-fpmiun', '--mount-proc', '/bin/true'] },
    { key: 'tsbox-state', name: 'tsbox state (created container)', argv: tsbox('state', created), vs: 'runc-state', needs: 'tsbox-created' },
    { key: 'tsbox-state-unpacked', name: 'tsbox state (unpacked, via env)', argv: ['env', 'TSBOX_UNPACKED=1', ...tsbox('state', created)], vs: 'runc-state', needs: 'tsbox-created' },
    { key: 'runc-state', name: 'runc state (created container)', argv: runc('state', created), vs: 'runc-state', needs: 'runc-created' },
    { key: 'tsbox-list', name: 'tsbox list (1 container)', argv: tsbox('list'), vs: 'runc-list' },
    { key: 'runc-list', name: 'runc list (1 container)', argv: runc('list'), vs: 'runc-list' },
    { key: 'tsbox-lifecycle', name: 'tsbox create+start+delete', argv: lifecycle(tsbox), vs: 'runc-lifecycle' },
    { key: 'runc-lifecycle', name: 'runc create+start+delete', argv: lifecycle(runc), vs: 'runc-lifecycle' },
  ];
}

/** Ids of the containers the per-command rows use, beside the run's id. */
function stateIds(id) {
  return { created: `${id}-created`, lifecycle: `${id}-lifecycle` };
}

/**
 * A created container (init waiting for start) under each runtime's root,
 * for `state` to look at; removed by cleanup(). Returns what failed.
 */
function createForState(tmp, bundle, id) {
  const failed = {};
  const { created } = stateIds(id);
  for (const [key, argv] of [
    ['tsbox-created', [process.execPath, TSBOX_BIN, '--root', path.join(tmp, 'tsbox'), 'create', '-b', bundle, created]],
    ['runc-created', ['runc', '--root', path.join(tmp, 'runc'), 'create', '-b', bundle, created]],
  ]) {
    // stdio ignored: the container keeps it, and spawnSync would wait for its end.
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', timeout: 30000 });
    if (r.error || r.status !== 0) failed[key] = `creating the container for state failed: ${r.error ? r.error.message : `exit ${r.status}`}`;
  }
  return failed;
}

/** Runs a command once; returns null if it worked, else why not. */
function tryOnce(c) {
  const r = spawnSync(c.argv[0], c.argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000 });
  c.stderr = r.stderr || '';
  if (r.error) return r.error.code === 'ENOENT' ? `${c.argv[0]} is not installed` : r.error.message;
  if (r.status !== 0) return `exit ${r.status ?? r.signal}: ${firstLine(r.stderr) || firstLine(r.stdout) || 'no output'}`;
  return null;
}

/** Checks every command works before hyperfine (which stops at the first failure). */
function preflight(cmds, tmp, id) {
  const notes = [];
  for (const c of cmds) {
    c.failure = tryOnce(c);
    if (c.failure) continue;
    if (c.key === 'runc' || c.key === 'crun' || c.key === 'tsbox') {
      // The same id again: a runtime that left state behind fails here.
      c.failure = tryOnce(c);
      if (c.failure) c.failure = `second run with the same id failed: ${c.failure}`;
    }
    if (!c.failure && c.key === 'runc') {
      if (fs.existsSync(path.join(tmp, 'runc', id))) c.failure = 'runc left its container state behind';
      else notes.push('runc run (no -d) deletes its container at exit: a fixed id works (verified)');
    }
    if (!c.failure && c.key === 'tsbox') {
      for (const w of c.stderr.split('\n').filter((l) => l.includes('warning'))) notes.push(`tsbox says: ${w.trim()}`);
    }
  }
  return notes;
}

function runHyperfine(cmds, o, jsonFile) {
  const args = ['-N', '--warmup', String(o.warmup), '--runs', String(o.runs), '--export-json', jsonFile, '--style', 'basic'];
  for (const c of cmds) args.push('--command-name', c.name, c.argv.map(sq).join(' '));
  return new Promise((resolve) => {
    const child = spawn('hyperfine', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    state.child = child;
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => resolve({ ok: false, out: err.message }));
    child.on('close', (code, signal) => {
      state.child = null;
      resolve({ ok: code === 0, out: out + (code !== 0 ? `\n(hyperfine: exit ${code ?? signal})` : '') });
    });
  });
}

async function measureCli(cmds, o, tmp, notes) {
  const jsonFile = path.join(tmp, 'hyperfine.json');
  let todo = cmds.filter((c) => !c.failure);
  // hyperfine stops at the first failing run: find the command, check it
  // again, drop it if it really fails, and try again (at most 3 runs).
  for (let attempt = 1; todo.length > 0; attempt++) {
    process.stderr.write(`bench: hyperfine, ${todo.length} commands x (${o.warmup} warm-up + ${o.runs}) runs...\n`);
    const r = await runHyperfine(todo, o, jsonFile);
    checkInterrupted();
    if (r.ok) {
      const data = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
      data.results.forEach((res, i) => {
        const times = res.times.map((t) => t * 1000);
        todo[i].stats = stats(times);
        todo[i].times = times;
        todo[i].hyperfine = { mean: res.mean * 1000, stddev: res.stddev * 1000, median: res.median * 1000 };
      });
      return null;
    }
    const error = ((r.out.match(/^Error: (.*)$/m) || [])[1] || firstLine(r.out)).replace(/\. Use the '-i'.*$/, '');
    const names = [...r.out.matchAll(/^Benchmark \d+: (.*)$/gm)].map((m) => m[1].trim());
    const culprit = todo.find((c) => c.name === names[names.length - 1]);
    process.stderr.write(`bench: hyperfine failed${culprit ? ` on "${culprit.name}"` : ''}: ${error}\n`);
    if (attempt >= 3) {
      for (const c of todo) c.failure = `hyperfine failed ${attempt} times, last: ${error}`;
      return error;
    }
    if (culprit) {
      let why = null;
      for (let i = 0; i < 3 && !why; i++) why = tryOnce(culprit);
      if (why) culprit.failure = `failed during the hyperfine run: ${why}`;
      else notes.push(`"${culprit.name}" failed once under hyperfine (${error}) but not on 3 re-checks; measured again`);
      todo = todo.filter((c) => !c.failure);
    }
  }
  return null;
}

// ---- the library, in this process -------------------------------------------------------

/** Runs the bundle to its end; returns the ms until run() resolved (the process is executing). */
async function runOnce(run, dir) {
  const t0 = performance.now();
  const c = await run(dir, { stdio: 'ignore' });
  const started = performance.now() - t0;
  const status = await c.exited;
  if (status.status !== 0) throw new Error(`container exited with status ${status.status}`);
  return started;
}

async function measureLibrary(run, dir, o) {
  for (let i = 0; i < o.libWarmup; i++) {
    checkInterrupted();
    await runOnce(run, dir);
  }
  const times = [];
  for (let i = 0; i < o.libN; i++) {
    checkInterrupted();
    const t0 = performance.now();
    await runOnce(run, dir);
    times.push(performance.now() - t0);
  }
  return { stats: stats(times), times };
}

async function measureConcurrent(run, dir, o) {
  await runOnce(run, dir);
  const walls = [];
  for (let r = 0; r < o.concurrentRounds; r++) {
    checkInterrupted();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: o.concurrency }, () => runOnce(run, dir)));
    walls.push(performance.now() - t0);
  }
  const wall = stats(walls).median;
  return { containers: o.concurrency, rounds: o.concurrentRounds, wallMs: walls, medianWallMs: wall, perContainerMs: wall / o.concurrency, perSecond: (o.concurrency * 1000) / wall };
}

// ---- what linux.resources adds to a start -------------------------------------------------

/** What `docker run --memory 512m --memory-swap 1g --cpus 1 --pids-limit 100 --blkio-weight 500` puts in linux.resources. */
const DOCKER_RESOURCES = {
  devices: [
    { allow: false, access: 'rwm' },
    ...[[1, 5], [1, 3], [1, 9], [1, 8], [5, 0], [5, 1]].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
    { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
    { allow: true, type: 'c', major: 136, access: 'rwm' },
    { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
    { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
    { allow: true, type: 'c', access: 'm' },
    { allow: true, type: 'b', access: 'm' },
  ],
  memory: { limit: 512 * 1024 * 1024, swap: 1024 * 1024 * 1024 },
  cpu: { shares: 1024, quota: 100000, period: 100000 },
  pids: { limit: 100 },
  blockIO: { weight: 500 },
};

/** Whether this host takes a blkio weight (v1 blkio.weight, or cgroup2's io.weight). */
function hostHasBlkioWeight() {
  return ['/sys/fs/cgroup/blkio/blkio.weight', '/sys/fs/cgroup/io.weight', '/sys/fs/cgroup/unified/io.weight'].some((f) => fs.existsSync(f));
}

/**
 * The minimal config with and without a Docker-like resource set, run
 * alternately with the library (so that drift hits both alike). The
 * difference of the medians of the time until run() resolves (the process
 * is executing) is what the cgroups add to a start (making them, the
 * writes, the init joining them); that of the whole runs adds removing
 * them after the process ended.
 */
async function measureResourcesOverhead(run, tmp, min, o, { n = o.libN, gapMs = 0 } = {}) {
  const dir = path.join(tmp, 'bundle-resources');
  fs.mkdirSync(dir, { recursive: true });
  const resources = { ...DOCKER_RESOURCES };
  const blkio = hostHasBlkioWeight();
  if (!blkio) delete resources.blockIO;
  const spec = { ...min, linux: { ...min.linux, cgroupsPath: `tsbox-bench-${process.pid}`, resources } };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2) + '\n');
  const minimal = path.join(tmp, 'bundle-minimal');
  for (let i = 0; i < o.libWarmup; i++) {
    checkInterrupted();
    await runOnce(run, minimal);
    await runOnce(run, dir);
  }
  const times = { none: [], resources: [] };
  const starts = { none: [], resources: [] };
  for (let i = 0; i < n; i++) {
    checkInterrupted();
    for (const [key, d] of [['none', minimal], ['resources', dir]]) {
      if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      const t0 = performance.now();
      starts[key].push(await runOnce(run, d));
      times[key].push(performance.now() - t0);
    }
  }
  const none = stats(starts.none);
  const res = stats(starts.resources);
  const whole = { none: stats(times.none), resources: stats(times.resources) };
  return {
    none,
    resources: res,
    overheadMs: res.median - none.median,
    whole: { ...whole, overheadMs: whole.resources.median - whole.none.median },
    blkioWeight: blkio,
    times,
    starts,
  };
}

// ---- report -----------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join(' | ');
  const sep = widths.map((w) => '-'.repeat(w)).join('-|-');
  return [line(rows[0]), sep, ...rows.slice(1).map(line)].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const failures = [];

  if (process.getuid() !== 0) throw new Error('must run as root (containers need it)');
  if (!fs.existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run \`npm run build:ts\` first`);
  const lib = require(DIST_INDEX);

  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-bench-'));
  const tmp = state.tmp;
  const id = state.containerId;
  const { bundle, minimal, min } = buildBundles(tmp, lib.defaultSpec);

  const versions = {
    node: process.version,
    kernel: os.release(),
    cpus: os.cpus().length,
    cpu: (os.cpus()[0] || {}).model,
    tsbox: require(path.join(ROOT, 'package.json')).version,
    runc: versionOf('runc'),
    crun: versionOf('crun'),
    hyperfine: versionOf('hyperfine'),
  };

  console.log(`tsbox start-up benchmark (${o.quick ? '--quick' : 'default'}: hyperfine warmup ${o.warmup}, runs ${o.runs}; library N=${o.libN} after ${o.libWarmup} warm-ups)`);
  console.log(`host: linux ${versions.kernel}, ${versions.cpus} CPUs (${versions.cpu}), node ${versions.node}`);
  console.log(`tools: ${versions.runc || 'runc: not installed'}; ${versions.crun || 'crun: not installed'}; ${versions.hyperfine || 'hyperfine: not installed'}`);
  console.log(
    caCerts !== undefined
      ? `env: NODE_EXTRA_CA_CERTS (=${caCerts}) is UNSET for every command measured here: it adds ~35 ms to each Node start`
      : 'env: NODE_EXTRA_CA_CERTS was not set (it would be unset for every command: it adds ~35 ms to each Node start)',
  );
  if (process.env.NODE_OPTIONS) console.log(`env: NODE_OPTIONS=${process.env.NODE_OPTIONS} is kept and applies to the Node commands`);
  console.log(`bundle: busybox rootfs, /bin/true, runc-spec default config with namespaces pid,network,ipc,uts,mount (in ${tmp}, removed at exit)`);

  // ---- CLI, under hyperfine
  const cmds = commands(tmp, bundle, id);
  const notCreated = createForState(tmp, bundle, id);
  for (const c of cmds) if (c.needs && notCreated[c.needs]) c.failure = notCreated[c.needs];
  const notes = preflight(cmds.filter((c) => !c.failure), tmp, id);
  checkInterrupted();
  let hyperfineError = null;
  if (!versions.hyperfine) {
    hyperfineError = 'hyperfine is not installed (apt-get install -y hyperfine)';
    for (const c of cmds) c.failure = c.failure || hyperfineError;
  } else {
    hyperfineError = await measureCli(cmds, o, tmp, notes);
  }
  const by = Object.fromEntries(cmds.map((c) => [c.key, c]));
  if (by.tsbox.failure) failures.push(`tsbox CLI: ${by.tsbox.failure}`);

  // ---- library, in this process
  const library = {};
  for (const [key, dir, label] of [
    ['default', bundle, 'default config'],
    ['minimal', minimal, 'minimal config'],
  ]) {
    process.stderr.write(`bench: library, ${label}...\n`);
    try {
      library[key] = await measureLibrary(lib.run, dir, o);
      library[key].concurrent = await measureConcurrent(lib.run, dir, o);
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      library[key] = { failure: err.message };
      failures.push(`library (${label}): ${err.message}`);
    }
  }

  process.stderr.write('bench: library, resources overhead...\n');
  let overhead;
  try {
    overhead = await measureResourcesOverhead(lib.run, tmp, min, o);
    // Back to back, a start can find kernel state (the cgroup migration
    // lock's RCU sync) still primed by the previous one; 150 ms apart, as
    // separate CLI calls are, it cannot: what a lone start pays.
    overhead.isolated = await measureResourcesOverhead(lib.run, tmp, min, o, { n: Math.min(o.libN, 20), gapMs: 150 });
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    overhead = { failure: err.message };
    failures.push(`library (resources overhead): ${err.message}`);
  }

  // ---- the table
  const runcMedian = by.runc.stats ? by.runc.stats.median : NaN;
  const ratio = (m) => (Number.isFinite(runcMedian) && Number.isFinite(m) ? `${(m / runcMedian).toFixed(2)}x` : '-');
  const rows = [['runtime', 'median ms', 'mean ± sd ms', 'p10–p90 ms', 'vs runc (median)']];
  const row = (name, s, r = ratio) => rows.push([name, f(s.median), `${f(s.mean)} ± ${f(s.sd)}`, `${f(s.p10)}–${f(s.p90)}`, r(s.median)]);
  // Per-command rows compare with runc doing the same command.
  const ratioTo = (key) => (m) => {
    const base = by[key] && by[key].stats ? by[key].stats.median : NaN;
    return Number.isFinite(base) && Number.isFinite(m) ? `${(m / base).toFixed(2)}x` : '-';
  };
  for (const c of cmds) {
    if (c.stats) row(c.name, c.stats, c.vs ? ratioTo(c.vs) : ratio);
    else rows.push([c.name, 'n/a', '', '', '']);
  }
  let crunNet = null;
  if (by.crun.stats && by['crun-wrapper'].stats) {
    crunNet = by.crun.stats.median - by['crun-wrapper'].stats.median;
    rows.push(['crun run minus wrapper median', f(crunNet), '', '', ratio(crunNet)]);
  }
  for (const [key, label] of [['default', 'library run() default config'], ['minimal', 'library run() minimal config']]) {
    if (library[key].stats) row(label, library[key].stats);
    else rows.push([label, 'n/a', '', '', '']);
  }
  console.log('');
  console.log(table(rows));

  for (const key of ['default', 'minimal']) {
    const c = library[key].concurrent;
    if (c) {
      console.log(
        `library concurrent, ${key} config: ${c.containers} containers via Promise.all in ${f(c.medianWallMs, 1)} ms (median of ${c.rounds}) = ${f(c.perContainerMs)} ms/container, ${f(c.perSecond, 0)} containers/s`,
      );
    }
  }
  if (by.tsbox.stats && by['tsbox-version'].stats && by.node.stats) {
    console.log(
      `tsbox CLI breakdown (medians): Node start ${f(by.node.stats.median)} ms + loading the CLI ${f(by['tsbox-version'].stats.median - by.node.stats.median)} ms + run ${f(by.tsbox.stats.median - by['tsbox-version'].stats.median)} ms`,
    );
  }
  if (overhead.failure) {
    console.log(`resources overhead: n/a (${overhead.failure})`);
  } else {
    console.log(
      `resources overhead: ${f(overhead.overheadMs)} ms added to the start (library run() of the minimal config until the process executes, median of ${o.libN} each, alternated: ` +
        `none ${f(overhead.none.median)} ms, Docker-like memory+swap, cpu shares/quota/period, pids, devices${overhead.blkioWeight ? ', blkio weight' : ' (this host takes no blkio weight)'} ${f(overhead.resources.median)} ms)`,
    );
    console.log(
      `resources overhead, whole run (start, exit, removing the cgroups): ${f(overhead.whole.overheadMs)} ms ` +
        `(none ${f(overhead.whole.none.median)} ms, resources ${f(overhead.whole.resources.median)} ms)`,
    );
    const iso = overhead.isolated;
    console.log(
      `resources overhead, isolated starts (150 ms apart, median of ${iso.none.n}): ${f(iso.overheadMs)} ms added to the start ` +
        `(none ${f(iso.none.median)} ms, resources ${f(iso.resources.median)} ms)`,
    );
  }
  const packed = [['--version', 'tsbox-version'], ['state', 'tsbox-state']]
    .filter(([, key]) => by[key].stats && by[`${key}-unpacked`].stats)
    .map(([what, key]) => `${what} ${f(by[key].stats.median)} ms vs ${f(by[`${key}-unpacked`].stats.median)} ms unpacked`);
  if (packed.length > 0) console.log(`tsbox CLI start-up from the pack (dist/packed, medians; unpacked rows include ~1 ms for env): ${packed.join('; ')}`);
  const unmeasured = cmds.filter((c) => !c.stats);
  for (const c of unmeasured) console.log(`not measurable: ${c.name}: ${c.failure}`);
  if (by.crun.stats) notes.push(`crun 1.8 refuses hybrid cgroups, so it runs in a wrapper (new mount ns, cgroup2 unmounted); "crun run minus wrapper" subtracts the wrapper's median`);
  notes.push('all three create the container\'s cgroups and write its linux.resources (the runc-spec default has device rules)');
  for (const n of notes) console.log(`note: ${n}`);

  // ---- verdict
  const libMin = library.minimal.stats ? library.minimal.stats.median : NaN;
  const cli = by.tsbox.stats ? by.tsbox.stats.median : NaN;
  const verdict = (ok) => (ok ? 'MET' : 'MISSED');
  const t1 = Number.isFinite(libMin) ? `${verdict(libMin <= 3)} (${f(libMin)} ms)` : 'n/a (library failed)';
  const t2 =
    Number.isFinite(cli) && Number.isFinite(runcMedian)
      ? `${verdict(cli <= runcMedian)} (${f(cli)} vs ${f(runcMedian)} ms, ${ratio(cli)})`
      : 'n/a (not measured)';
  const t3 = overhead.failure ? 'n/a' : `${verdict(overhead.overheadMs <= 1)} (${f(overhead.overheadMs)} ms)`;
  console.log(`\nverdict: library minimal median <= 3 ms: ${t1}; CLI tsbox median <= runc median: ${t2}; resources overhead <= 1 ms: ${t3}`);

  if (o.json) {
    const cliOut = {};
    for (const c of cmds) {
      cliOut[c.key] = { name: c.name, command: c.argv.map(sq).join(' '), ...(c.stats ? { stats: c.stats, hyperfine: c.hyperfine, timesMs: c.times } : { failure: c.failure }) };
    }
    const out = {
      date: new Date().toISOString(),
      mode: o.quick ? 'quick' : 'default',
      params: { warmup: o.warmup, runs: o.runs, libWarmup: o.libWarmup, libN: o.libN, concurrency: o.concurrency, concurrentRounds: o.concurrentRounds },
      versions,
      env: { NODE_EXTRA_CA_CERTS: caCerts !== undefined ? 'unset for all commands (was set)' : 'not set' },
      unit: 'ms',
      cli: cliOut,
      crunMinusWrapperMedian: crunNet,
      resourcesOverhead: overhead.failure
        ? { failure: overhead.failure }
        : {
            overheadMs: overhead.overheadMs,
            wholeRun: overhead.whole,
            none: overhead.none,
            resources: overhead.resources,
            blkioWeight: overhead.blkioWeight,
            timesMs: overhead.times,
            isolated: { overheadMs: overhead.isolated.overheadMs, none: overhead.isolated.none, resources: overhead.isolated.resources, gapMs: 150 },
          },
      library: Object.fromEntries(
        Object.entries(library).map(([k, v]) => [k, v.failure ? { failure: v.failure } : { stats: v.stats, timesMs: v.times, concurrent: v.concurrent }]),
      ),
      targets: {
        libraryMinimalMedianAtMost3ms: Number.isFinite(libMin) ? libMin <= 3 : null,
        cliMedianAtMostRunc: Number.isFinite(cli) && Number.isFinite(runcMedian) ? cli <= runcMedian : null,
        resourcesOverheadAtMost1ms: overhead.failure ? null : overhead.overheadMs <= 1,
      },
      notes,
      failures,
      hyperfineError,
    };
    fs.writeFileSync(o.json, JSON.stringify(out, null, 2) + '\n');
    console.log(`numbers written to ${o.json}`);
  }

  if (failures.length > 0) {
    for (const x of failures) console.error(`bench: FAILED: ${x}`);
    return 1;
  }
  return 0;
}

main()
  .then((status) => {
    cleanup();
    process.exitCode = status;
  })
  .catch((err) => {
    cleanup();
    if (err instanceof Interrupted) {
      process.exitCode = 128 + os.constants.signals[state.interrupted];
    } else {
      process.stderr.write(`bench: ${err && err.stack ? err.stack : err}\n`);
      process.exitCode = 1;
    }
  });
