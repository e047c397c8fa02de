'use strict';
// Start-up benchmark: how long it takes to run /bin/true in a busybox
// container with the tsbox CLI, runc and crun (one hyperfine run, so the
// ratios compare like with like), what engines call per container (state,
// list, create+start+delete, alone and 20 at a time, with the CPU each
// burns), and the library in this process. It prints each figure of
// issue 16's table with its goal and whether it is met, and can draw them
// (--svg; `npm run bench` redraws docs/bench.svg, which the README shows).
// A report, not a test: it exits 0 when a goal is missed, and non-zero
// only when tsbox (CLI or library) cannot run the bundle at all.
//
//   node scripts/bench.js [--quick] [--json FILE] [--svg FILE]
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
// The entry engines are told to call (made by scripts/pack-cli.js): its
// first line names Node, so a call does not exec /usr/bin/env first. Every
// CLI row runs it but one, which runs bin/tsbox, the portable entry.
const TSBOX_ENTRY = path.join(ROOT, 'dist', 'tsbox');
const DIST_INDEX = path.join(ROOT, 'dist', 'index.js');
const BUSYBOX = '/bin/busybox';

// ---- options ----------------------------------------------------------------

function usage(status) {
  (status === 0 ? process.stdout : process.stderr).write(
    'usage: node scripts/bench.js [--quick] [--json FILE] [--svg FILE]\n' +
      '  --quick      few runs (CI): warmup 3, runs 15, library N=50, 60 parallel lifecycles\n' +
      '  --json FILE  also write every number (and raw times) to FILE\n' +
      '  --svg FILE   the chart of tsbox vs runc and crun (default without --quick: docs/bench.svg)\n',
  );
  process.exit(status);
}

function parseArgs(argv) {
  const opts = { quick: false, json: null, svg: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') {
      if (i + 1 >= argv.length) usage(2);
      opts.json = path.resolve(argv[++i]);
    } else if (a.startsWith('--json=')) opts.json = path.resolve(a.slice('--json='.length));
    else if (a === '--svg') {
      if (i + 1 >= argv.length) usage(2);
      opts.svg = path.resolve(argv[++i]);
    } else if (a.startsWith('--svg=')) opts.svg = path.resolve(a.slice('--svg='.length));
    else if (a === '--help' || a === '-h') usage(0);
    else {
      process.stderr.write(`bench: unknown argument "${a}"\n`);
      usage(2);
    }
  }
  // lifecycles/lifecycleParallel: issue 16's "500 lifecycles, 20 in
  // parallel"; poolN/poolSize: its library throughput "8 at a time".
  const p = opts.quick
    ? { warmup: 3, runs: 15, libWarmup: 5, libN: 50, concurrency: 50, concurrentRounds: 2, lifecycles: 60, lifecycleParallel: 20, poolN: 200, poolSize: 8, criRuns: 0 }
    : { warmup: 10, runs: 60, libWarmup: 20, libN: 300, concurrency: 50, concurrentRounds: 5, lifecycles: 500, lifecycleParallel: 20, poolN: 1000, poolSize: 8, criRuns: 20 };
  if (opts.svg === undefined) opts.svg = opts.quick ? null : path.join(ROOT, 'docs', 'bench.svg');
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

/**
 * crun 1.8 refuses this hybrid host's cgroups: it runs in a mount namespace
 * of its own where cgroup2 is not mounted. `script` is a shell command
 * list; a lone command is exec'd.
 */
function crunWrapped(script) {
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', `umount /sys/fs/cgroup/unified; ${/&&|;/.test(script) ? '' : 'exec '}${script}`];
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
    if (fs.existsSync(path.join(tsboxRoot, other))) spawnSync(TSBOX_ENTRY, ['--root', tsboxRoot, 'delete', '-f', other], quiet);
  }
  const crunRoot = path.join(tmp, 'crun');
  for (const c of [id, ...Object.values(stateIds(id))]) {
    if (!fs.existsSync(path.join(crunRoot, c))) continue;
    const [cmd, ...args] = crunWrapped(`crun --root ${sq(crunRoot)} delete -f ${c}`);
    spawnSync(cmd, args, quiet);
  }
  // Parallel lifecycles interrupted half-way.
  for (const [rt, dir] of [['runc', runcRoot], ['tsbox', path.join(tmp, 'tsbox')]]) {
    let names = [];
    try {
      names = fs.readdirSync(dir).filter((n) => n.startsWith(`${id}-p`));
    } catch {}
    for (const n of names) {
      const argv = rt === 'runc' ? ['runc', '--root', dir, 'delete', '-f', n] : [TSBOX_ENTRY, '--root', dir, 'delete', '-f', n];
      spawnSync(argv[0], argv.slice(1), quiet);
    }
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

  // Issue 16's library figure: `tsbox spec`'s config as it is (cgroup
  // namespace, masked paths, devices...), running /bin/true.
  const specBundle = path.join(tmp, 'bundle-spec');
  fs.mkdirSync(specBundle);
  const plain = defaultSpec({ args: ['/bin/true'] });
  plain.process.terminal = false;
  plain.root.path = rootfs;
  fs.writeFileSync(path.join(specBundle, 'config.json'), JSON.stringify(plain, null, 2) + '\n');
  return { bundle, rootfs, minimal, specBundle, spec, min };
}

// ---- the commands -------------------------------------------------------------------

function commands(tmp, bundle, id) {
  const node = process.execPath;
  // Every runtime keeps its state under the benchmark's temp dir.
  const tsboxRoot = path.join(tmp, 'tsbox');
  const runcRoot = path.join(tmp, 'runc');
  const crunRoot = path.join(tmp, 'crun');
  const crunScript = `crun --root ${sq(crunRoot)} run -b ${sq(bundle)} ${id}`;
  const tsbox = (...args) => [TSBOX_ENTRY, '--root', tsboxRoot, ...args];
  const runc = (...args) => ['runc', '--root', runcRoot, ...args];
  // What an engine does per container: three calls (create's stdio is the
  // container's, so it gets /dev/null, not hyperfine's pipe).
  const crun = (...args) => ['crun', '--root', crunRoot, ...args];
  const lifecycle = (cli) => ['sh', '-c', lifecycleScript(cli, bundle, stateIds(id).lifecycle)];
  const created = stateIds(id).created;
  return [
    { key: 'node', name: 'node -e 0 (Node start-up floor)', argv: [node, '-e', '0'] },
    { key: 'tsbox-version', name: 'tsbox --version', argv: [TSBOX_ENTRY, '--version'] },
    // The same without the pack (dist/ module by module, as before
    // scripts/pack-cli.js), for comparison; `env` adds ~1 ms.
    { key: 'tsbox-version-unpacked', name: 'tsbox --version (unpacked, via env)', argv: ['env', 'TSBOX_UNPACKED=1', TSBOX_ENTRY, '--version'] },
    { key: 'tsbox', name: 'tsbox run', argv: tsbox('run', '-b', bundle, id), required: true },
    { key: 'runc', name: 'runc run', argv: runc('run', '-b', bundle, id) },
    { key: 'crun', name: 'crun run (in wrapper)', argv: crunWrapped(crunScript) },
    { key: 'crun-wrapper', name: 'crun wrapper alone', argv: crunWrapped('true') },
    { key: 'unshare', name: 'unshare -fpmiun --mount-proc true', argv: ['unshare', '-fpmiun', '--mount-proc', '/bin/true'] },
    { key: 'tsbox-state', name: 'tsbox state (created container)', argv: tsbox('state', created), vs: 'runc-state', needs: 'tsbox-created' },
    { key: 'tsbox-state-bin', name: 'tsbox state through bin/tsbox (#!/usr/bin/env node)', argv: [TSBOX_BIN, '--root', tsboxRoot, 'state', created], vs: 'runc-state', needs: 'tsbox-created' },
    { key: 'tsbox-state-unpacked', name: 'tsbox state (unpacked, via env)', argv: ['env', 'TSBOX_UNPACKED=1', ...tsbox('state', created)], vs: 'runc-state', needs: 'tsbox-created' },
    { key: 'runc-state', name: 'runc state (created container)', argv: runc('state', created), vs: 'runc-state', needs: 'runc-created' },
    { key: 'tsbox-list', name: 'tsbox list (1 container)', argv: tsbox('list'), vs: 'runc-list' },
    { key: 'runc-list', name: 'runc list (1 container)', argv: runc('list'), vs: 'runc-list' },
    { key: 'tsbox-lifecycle', name: 'tsbox create+start+delete', argv: lifecycle(tsbox), vs: 'runc-lifecycle' },
    { key: 'runc-lifecycle', name: 'runc create+start+delete', argv: lifecycle(runc), vs: 'runc-lifecycle' },
    { key: 'crun-lifecycle', name: 'crun create+start+delete (in wrapper)', argv: crunWrapped(lifecycleScript(crun, bundle, stateIds(id).lifecycle)), vs: 'runc-lifecycle' },
  ];
}

/**
 * What an engine does per container: three calls (create's stdio is the
 * container's, so it gets /dev/null, not the caller's pipe); `cli` makes
 * one call's argv.
 */
function lifecycleScript(cli, bundle, c) {
  return `${cli('create', '-b', bundle, c).map(sq).join(' ')} </dev/null >/dev/null && ${cli('start', c).map(sq).join(' ')} && ${cli('delete', '-f', c).map(sq).join(' ')}`;
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
    ['tsbox-created', [TSBOX_ENTRY, '--root', path.join(tmp, 'tsbox'), 'create', '-b', bundle, created]],
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
        todo[i].hyperfine = { mean: res.mean * 1000, stddev: res.stddev * 1000, median: res.median * 1000, user: res.user * 1000, system: res.system * 1000 };
        // hyperfine's user+sys of a run counts the processes it reaped
        // (the CLI, its helper; not a container's init, which another
        // process reaps).
        todo[i].cpuMs = (res.user + res.system) * 1000;
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

// ---- CPU of this process and the children it reaped -------------------------------------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/**
 * user+sys ms burnt so far by this process (`self`) and by the children it
 * has reaped, with theirs (`children`: /proc/self/stat's cutime+cstime,
 * in clock ticks of 10 ms: meaningful over many runs only).
 */
function cpuNow() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const u = process.cpuUsage();
  // fields[0] is field 3 (state): cutime and cstime are fields 16 and 17.
  return { self: (u.user + u.system) / 1000, children: ((Number(fields[13]) + Number(fields[14])) * 1000) / CLK_TCK };
}

function cpuSince(t0) {
  const t1 = cpuNow();
  return { self: t1.self - t0.self, children: t1.children - t0.children };
}

// ---- many lifecycles at once ----------------------------------------------------------------

/**
 * `n` create+start+delete lifecycles (each in its own sh, its own id), at
 * most `parallel` at a time: what an engine starting many containers puts
 * the runtime through. Wall time per lifecycle (wall / n) and the CPU each
 * burnt (user+sys of the sh and everything it reaped). A lifecycle that
 * fails is counted and its first error kept (a container it left is
 * removed by cleanup()); the figure is void only when most fail.
 */
async function measureParallelLifecycles(cli, bundle, id, n, parallel) {
  let next = 0;
  let failures = 0;
  let firstFailure = null;
  const one = (i) =>
    new Promise((resolve) => {
      const child = spawn('sh', ['-c', lifecycleScript(cli, bundle, `${id}-p${i}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.on('error', (e) => resolve(e.message));
      child.on('close', (code, signal) => resolve(code === 0 ? null : `exit ${code ?? signal}: ${firstLine(err) || 'no output'}`));
    });
  const worker = async () => {
    while (next < n && failures <= n / 2 && !state.interrupted) {
      const why = await one(next++);
      if (why) {
        failures++;
        firstFailure = firstFailure || why;
      }
    }
  };
  const cpu0 = cpuNow();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: parallel }, worker));
  const wall = performance.now() - t0;
  checkInterrupted();
  if (failures > n / 2) throw new Error(`${failures} of ${next} failed, first: ${firstFailure}`);
  const cpu = cpuSince(cpu0);
  return { n, parallel, wallMs: wall, perLifecycleMs: wall / n, cpuPerLifecycleMs: cpu.children / n, failures, firstFailure };
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

/**
 * Throughput with `o.poolSize` runs always in flight (each worker starts
 * the next run when its last one exited), `o.poolN` runs in all, and the
 * CPU a run costs (this process's share plus the helper's and the init's,
 * which it reaps).
 */
async function measurePool(run, dir, o, { spawner = 0 } = {}) {
  await runOnce(run, dir);
  // The pre-started helper's share: it lives on, so it is not in this
  // process's children's times.
  const spawnerCpu = () => {
    if (!spawner) return 0;
    const stat = fs.readFileSync(`/proc/${spawner}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  };
  let next = 0;
  const worker = async () => {
    while (next < o.poolN) {
      checkInterrupted();
      next++;
      await runOnce(run, dir);
    }
  };
  const cpu0 = cpuNow();
  const spawner0 = spawnerCpu();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: o.poolSize }, worker));
  const wall = performance.now() - t0;
  const cpu = cpuSince(cpu0);
  const spawnerMs = spawnerCpu() - spawner0;
  return { runs: o.poolN, inFlight: o.poolSize, wallMs: wall, perSecond: (o.poolN * 1000) / wall, cpuPerRunMs: (cpu.self + cpu.children + spawnerMs) / o.poolN, cpuSelfPerRunMs: cpu.self / o.poolN };
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

// ---- issue 16's goals, and the chart ------------------------------------------------------------

/** One line per figure of issue 16's table: the numbers, the goal, and whether it is met (by how much not). */
function goalRows({ by, parallel, library, cri }) {
  const med = (key) => (by[key] && by[key].stats ? by[key].stats.median : NaN);
  const withCpu = (ms, cpu) => (Number.isFinite(ms) ? `${f(ms, 1)} ms${Number.isFinite(cpu) ? ` (cpu ${f(cpu, 1)})` : ''}` : 'n/a');
  const cpuOf = (key) => (by[key] ? by[key].cpuMs : NaN);
  // On a loaded machine the wall times swing; the CPU a call burns much less.
  const cpuRatio = (a, b) => (Number.isFinite(cpuOf(a)) && Number.isFinite(cpuOf(b)) ? ` (cpu ${f(cpuOf(a) / cpuOf(b))}x)` : '');
  /** a/b <= limit; `unit` names b; missed by the ratio over and the ms a must lose. */
  const ratioGoal = (row, a, b, limit, unit) => {
    if (!Number.isFinite(a) || !Number.isFinite(b)) return { ...row, measured: 'n/a', goal: `<= ${limit}x ${unit}`, verdict: 'not measured (a command failed: see above)' };
    const r = a / b;
    return {
      ...row,
      measured: `${f(r)}x ${unit}`,
      goal: `<= ${limit.toFixed(2)}x ${unit}`,
      verdict: r <= limit ? 'MET' : `MISSED by ${f(r - limit)}x (${f(a - limit * b, 1)} ms too slow)`,
    };
  };
  /** A CLI call against bare node (its goal), with runc's figure beside it and the CPU ratio. */
  const nodeRow = (work, key, runcKey, limit) => {
    const row = ratioGoal(
      { work, tsbox: withCpu(med(key), cpuOf(key)), runc: withCpu(med(runcKey), cpuOf(runcKey)), node: withCpu(med('node'), cpuOf('node')) },
      med(key),
      med('node'),
      limit,
      'node',
    );
    row.measured += Number.isFinite(med(runcKey)) ? `, ${f(med(key) / med(runcKey))}x runc` : '';
    row.measured += cpuRatio(key, 'node');
    return row;
  };
  const rows = [nodeRow('run of /bin/true', 'tsbox', 'runc', 1.25), nodeRow('state', 'tsbox-state', 'runc-state', 1.1)];
  rows.push(
    ratioGoal(
      { work: 'create + start + delete -f', tsbox: withCpu(med('tsbox-lifecycle'), cpuOf('tsbox-lifecycle')), runc: withCpu(med('runc-lifecycle'), cpuOf('runc-lifecycle')), node: '' },
      med('tsbox-lifecycle'),
      med('runc-lifecycle'),
      0.6,
      'runc',
    ),
  );
  const pt = parallel.tsbox && !parallel.tsbox.failure ? parallel.tsbox : null;
  const pr = parallel.runc && !parallel.runc.failure ? parallel.runc : null;
  const n = pt ? pt.n : pr ? pr.n : 0;
  const prow = {
    work: `${n} lifecycles, ${pt ? pt.parallel : pr ? pr.parallel : ''} in parallel (each)`,
    tsbox: pt ? withCpu(pt.perLifecycleMs, pt.cpuPerLifecycleMs) : 'n/a',
    runc: pr ? withCpu(pr.perLifecycleMs, pr.cpuPerLifecycleMs) : 'n/a',
    node: '',
  };
  if (pt && pr) {
    rows.push(ratioGoal(prow, pt.perLifecycleMs, pr.perLifecycleMs, 1.5, 'runc'));
    const failed = [pt.failures > 0 ? `tsbox ${pt.failures}` : '', pr.failures > 0 ? `runc ${pr.failures}` : ''].filter(Boolean);
    if (failed.length > 0) rows[rows.length - 1].verdict += `; FAILED lifecycles: ${failed.join(', ')} (see above)`;
  }
  else rows.push({ ...prow, measured: 'n/a', goal: '<= 1.50x runc', verdict: `not measured (${(parallel.tsbox && parallel.tsbox.failure) || (parallel.runc && parallel.runc.failure)})` });
  const criRow = { work: 'containerd CRI StartContainer', node: '' };
  if (cri && cri.tsbox) {
    rows.push({ ...ratioGoal(criRow, cri.tsbox.median, cri.runc.median, 1, 'runc'), tsbox: `${f(cri.tsbox.median, 1)} ms`, runc: `${f(cri.runc.median, 1)} ms` });
  } else {
    const why = !cri ? 'full bench only: npm run bench without --quick' : cri.skipped || cri.failure;
    rows.push({ ...criRow, tsbox: 'n/a', runc: 'n/a', measured: 'n/a', goal: "<= runc's", verdict: `not measured (${why})` });
  }
  // The library's run as it is (each container's helper forked from the
  // pre-started one), and after stopHelper() (each one executed).
  for (const [key, how] of [['spec', ''], ['executed', ', each helper executed']]) {
    const lib = library[key];
    if (lib && lib.stats && lib.pool) {
      const p50 = lib.stats.median;
      const rate = lib.pool.perSecond;
      const missed = [];
      if (p50 > 3) missed.push(`p50 ${f(p50 - 3)} ms over`);
      if (rate < 600) missed.push(`${f(600 - rate, 0)}/s short`);
      rows.push({
        work: `library: run to exit, tsbox spec config (${lib.pool.inFlight} at a time${how})`,
        tsbox: `p50 ${f(p50)} ms, ${f(rate, 0)}/s (cpu ${f(lib.pool.cpuPerRunMs, 1)})`,
        runc: '',
        node: '',
        measured: `p50 ${f(p50)} ms, ${f(rate, 0)}/s`,
        goal: 'p50 <= 3.0 ms, >= 600/s',
        verdict: missed.length === 0 ? 'MET' : `MISSED (${missed.join(', ')})`,
      });
    } else {
      rows.push({ work: `library: run to exit, tsbox spec config${how}`, tsbox: 'n/a', runc: '', node: '', measured: 'n/a', goal: 'p50 <= 3.0 ms, >= 600/s', verdict: `not measured (${lib ? lib.failure : 'not run'})` });
    }
  }
  return rows;
}

// ---- containerd's CRI StartContainer ------------------------------------------------------

/**
 * StartContainer through containerd's CRI with tsbox and with runc as the
 * runtime handler, alternately in one containerd: test/perf/cri-start.perf.ts
 * (it uses the CRI tests' helpers, which are TypeScript, so vitest runs it).
 * The daemon, its sockets and state live in a temp sandbox the file removes.
 * Returns { tsbox, runc } stats, or { skipped } / { failure } with why.
 */
function measureCri(tmp, o) {
  const out = path.join(tmp, 'cri-start.json');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '-c', path.join(ROOT, 'test', 'perf', 'vitest.config.mts')], {
    cwd: ROOT,
    env: { ...process.env, TSBOX_CRI_BENCH_OUT: out, TSBOX_CRI_BENCH_N: String(o.criRuns) },
    encoding: 'utf8',
    timeout: 900_000,
  });
  let result;
  try {
    result = JSON.parse(fs.readFileSync(out, 'utf8'));
  } catch {
    const why = firstLine((r.stdout || '').split('\n').filter((l) => /Error|FAIL|×/.test(l)).join('\n')) || firstLine(r.stderr) || `exit status ${r.status}`;
    return { failure: `test/perf/cri-start.perf.ts: ${why}` };
  }
  if (result.skipped) return { skipped: result.skipped };
  if (r.status !== 0) return { failure: `test/perf/cri-start.perf.ts failed (exit status ${r.status}): its teardown found something left` };
  return { tsbox: stats(result.tsbox), runc: stats(result.runc), times: result };
}

const xmlEscape = (t) => String(t).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The chart of tsbox vs runc (and crun, and Node's own start) as SVG: one
 * group of bars per kind of work, medians with the p10-p90 range.
 */
function chart({ by, parallel, library, cri, crunNet, crunLifecycleNet, versions, quick }) {
  const COLORS = { tsbox: '#3178c6', runc: '#e37933', crun: '#4c9a2a', node: '#9a9a9a' };
  const bar = (who, key) => (by[key] && by[key].stats ? { who, value: by[key].stats.median, lo: by[key].stats.p10, hi: by[key].stats.p90 } : null);
  const plain = (who, value) => (Number.isFinite(value) ? { who, value } : null);
  const pt = parallel.tsbox && !parallel.tsbox.failure ? parallel.tsbox : null;
  const pr = parallel.runc && !parallel.runc.failure ? parallel.runc : null;
  const groups = [
    ['run of /bin/true', [bar('tsbox', 'tsbox'), bar('runc', 'runc'), plain('crun', crunNet), bar('node', 'node')]],
    ['state', [bar('tsbox', 'tsbox-state'), bar('runc', 'runc-state'), bar('node', 'node')]],
    ['list', [bar('tsbox', 'tsbox-list'), bar('runc', 'runc-list')]],
    ['create + start + delete -f', [bar('tsbox', 'tsbox-lifecycle'), bar('runc', 'runc-lifecycle'), plain('crun', crunLifecycleNet)]],
    ['CPU (user+sys) of create + start + delete', [plain('tsbox', by['tsbox-lifecycle'].cpuMs), plain('runc', by['runc-lifecycle'].cpuMs)]],
    [`each of ${pt ? pt.n : pr ? pr.n : ''} lifecycles, ${pt ? pt.parallel : ''} in parallel`, [plain('tsbox', pt && pt.perLifecycleMs), plain('runc', pr && pr.perLifecycleMs)]],
    ...(cri && cri.tsbox ? [['containerd CRI StartContainer', ['tsbox', 'runc'].map((who) => ({ who, value: cri[who].median, lo: cri[who].p10, hi: cri[who].p90 }))]] : []),
    ['library run() to exit (tsbox spec config)', [library.spec && library.spec.stats ? { who: 'tsbox', value: library.spec.stats.median, lo: library.spec.stats.p10, hi: library.spec.stats.p90 } : null]],
    ['library run() to exit, each helper executed', [library.executed && library.executed.stats ? { who: 'tsbox', value: library.executed.stats.median, lo: library.executed.stats.p10, hi: library.executed.stats.p90 } : null]],
  ]
    .map(([label, bars]) => [label, bars.filter(Boolean)])
    .filter(([, bars]) => bars.length > 0);
  const max = Math.max(...groups.flatMap(([, bars]) => bars.map((b) => Math.max(b.value, b.hi || 0))));
  const W = 820;
  const left = 290;
  const right = 70;
  const barH = 14;
  const scale = (v) => ((W - left - right) * v) / max;
  const out = [];
  let y = 64;
  for (const [label, bars] of groups) {
    out.push(`<text x="${left - 10}" y="${y + (bars.length * (barH + 3)) / 2 + 4}" text-anchor="end" class="label">${xmlEscape(label)}</text>`);
    for (const b of bars) {
      const w = Math.max(scale(b.value), 1);
      out.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.who]}"><title>${b.who}: ${f(b.value)} ms</title></rect>`);
      if (b.lo !== undefined && b.hi !== undefined) {
        const cy = y + barH / 2;
        out.push(`<path d="M${(left + scale(b.lo)).toFixed(1)} ${cy}H${(left + scale(b.hi)).toFixed(1)}M${(left + scale(b.lo)).toFixed(1)} ${cy - 3}v6M${(left + scale(b.hi)).toFixed(1)} ${cy - 3}v6" stroke="#333" stroke-width="1" fill="none"/>`);
      }
      out.push(`<text x="${(left + Math.max(w, b.hi !== undefined ? scale(b.hi) : 0) + 4).toFixed(1)}" y="${y + barH - 3}" class="value">${f(b.value, 1)} ms</text>`);
      y += barH + 3;
    }
    y += 14;
  }
  const H = y + 28;
  let lx = 20;
  const legend = Object.entries({ tsbox: 'tsbox', runc: versions.runc || 'runc', crun: `${versions.crun || 'crun'} (minus its wrapper)`, node: 'node -e 0 (Node start)' })
    .map(([who, text]) => {
      const item = `<rect x="${lx}" y="34" width="12" height="12" fill="${COLORS[who]}"/><text x="${lx + 16}" y="44" class="value">${xmlEscape(text)}</text>`;
      lx += 16 + text.length * 6.5 + 18; // ~6.5 px a character at 11 px
      return item;
    })
    .join('');
  const title = `tsbox vs runc and crun: medians in ms (whiskers p10-p90)${quick ? ', --quick' : ''}`;
  const foot = `${new Date().toISOString().slice(0, 10)}, linux ${versions.kernel}, ${versions.cpus} CPUs, node ${versions.node}; load ${os.loadavg()[0].toFixed(1)} (other work ran on the machine: noisy). npm run bench redraws this.`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">`,
    '<style>.label{font-size:12px;fill:#222}.value{font-size:11px;fill:#333}.title{font-size:14px;font-weight:bold;fill:#111}.foot{font-size:10px;fill:#666}</style>',
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="20" y="22" class="title">${xmlEscape(title)}</text>`,
    legend,
    ...out,
    `<text x="20" y="${H - 10}" class="foot">${xmlEscape(foot)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const failures = [];

  if (process.getuid() !== 0) throw new Error('must run as root (containers need it)');
  if (!fs.existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: run \`npm run build:ts\` first`);
  if (!fs.existsSync(TSBOX_ENTRY)) throw new Error(`${TSBOX_ENTRY} is missing: run \`npm run build:ts\` first (scripts/pack-cli.js makes it)`);
  const lib = require(DIST_INDEX);

  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-bench-'));
  const tmp = state.tmp;
  const id = state.containerId;
  const { bundle, minimal, specBundle, min } = buildBundles(tmp, lib.defaultSpec);

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
  console.log(`CLI: tsbox is dist/tsbox, the entry engines call (${fs.readFileSync(TSBOX_ENTRY, 'utf8').split('\n')[0]}, no /usr/bin/env), but in the row "through bin/tsbox", the portable entry (#!/usr/bin/env node)`);
  console.log(`bundle: busybox rootfs, /bin/true, runc-spec default config with namespaces pid,network,ipc,uts,mount (in ${tmp}, removed at exit)`);
  console.log(`load: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (1/5/15 min) on ${versions.cpus} CPUs at the start; other work on the machine makes every figure noisy`);

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

  // ---- many lifecycles at once, tsbox then runc
  const parallel = {};
  for (const [key, cli] of [
    ['tsbox', (...args) => [TSBOX_ENTRY, '--root', path.join(tmp, 'tsbox'), ...args]],
    ['runc', (...args) => ['runc', '--root', path.join(tmp, 'runc'), ...args]],
  ]) {
    if (by[`${key}-lifecycle`].failure) {
      parallel[key] = { failure: `${key} create+start+delete does not work: ${by[`${key}-lifecycle`].failure}` };
      continue;
    }
    process.stderr.write(`bench: ${o.lifecycles} ${key} lifecycles, ${o.lifecycleParallel} at a time...\n`);
    try {
      parallel[key] = await measureParallelLifecycles(cli, bundle, id, o.lifecycles, o.lifecycleParallel);
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      parallel[key] = { failure: err.message };
      if (key === 'tsbox') failures.push(`tsbox parallel lifecycles: ${err.message}`);
    }
  }

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
  process.stderr.write(`bench: library, tsbox spec config, ${o.poolSize} at a time...\n`);
  try {
    library.spec = await measureLibrary(lib.run, specBundle, o);
    // run() pre-started the helper at its first container: prestartHelper() keeps it, and says which it is.
    library.spec.pool = await measurePool(lib.run, specBundle, o, { spawner: lib.prestartHelper() });
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    library.spec = { failure: err.message };
    failures.push(`library (tsbox spec config): ${err.message}`);
  }
  // The same after stopHelper(): each container's helper executed, as
  // the command line's is.
  process.stderr.write(`bench: library, tsbox spec config, ${o.poolSize} at a time, each helper executed...\n`);
  try {
    lib.stopHelper();
    try {
      library.executed = await measureLibrary(lib.run, specBundle, o);
      library.executed.pool = await measurePool(lib.run, specBundle, o);
    } finally {
      lib.prestartHelper();
    }
  } catch (err) {
    if (err instanceof Interrupted) throw err;
    library.executed = { failure: err.message };
    failures.push(`library (tsbox spec config, each helper executed): ${err.message}`);
  }

  // ---- containerd's CRI (full pass only: a daemon per run, ~1 min)
  let cri;
  if (!o.quick) {
    process.stderr.write('bench: containerd CRI StartContainer, tsbox and runc...\n');
    cri = measureCri(tmp, o);
    if (cri.failure) failures.push(`containerd CRI: ${cri.failure}`);
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
  const rows = [['runtime', 'median ms', 'mean ± sd ms', 'p10–p90 ms', 'vs runc (median)', 'user+sys ms']];
  const row = (name, s, r = ratio, cpu) => rows.push([name, f(s.median), `${f(s.mean)} ± ${f(s.sd)}`, `${f(s.p10)}–${f(s.p90)}`, r(s.median), f(cpu)]);
  // Per-command rows compare with runc doing the same command.
  const ratioTo = (key) => (m) => {
    const base = by[key] && by[key].stats ? by[key].stats.median : NaN;
    return Number.isFinite(base) && Number.isFinite(m) ? `${(m / base).toFixed(2)}x` : '-';
  };
  for (const c of cmds) {
    if (c.stats) row(c.name, c.stats, c.vs ? ratioTo(c.vs) : ratio, c.cpuMs);
    else rows.push([c.name, 'n/a', '', '', '', '']);
  }
  let crunNet = null;
  if (by.crun.stats && by['crun-wrapper'].stats) {
    crunNet = by.crun.stats.median - by['crun-wrapper'].stats.median;
    rows.push(['crun run minus wrapper median', f(crunNet), '', '', ratio(crunNet), '']);
  }
  let crunLifecycleNet = null;
  if (by['crun-lifecycle'].stats && by['crun-wrapper'].stats) {
    crunLifecycleNet = by['crun-lifecycle'].stats.median - by['crun-wrapper'].stats.median;
    rows.push(['crun create+start+delete minus wrapper', f(crunLifecycleNet), '', '', ratioTo('runc-lifecycle')(crunLifecycleNet), '']);
  }
  for (const [key, label] of [['default', 'library run() default config'], ['minimal', 'library run() minimal config'], ['spec', 'library run() tsbox spec config'], ['executed', 'library run() tsbox spec config, each helper executed']]) {
    if (library[key].stats) row(label, library[key].stats);
    else rows.push([label, 'n/a', '', '', '', '']);
  }
  console.log('');
  console.log(table(rows));

  for (const key of ['tsbox', 'runc']) {
    const p = parallel[key];
    if (p && !p.failure) {
      console.log(`${key}: ${p.n} create+start+delete, ${p.parallel} at a time, in ${f(p.wallMs / 1000, 1)} s = ${f(p.perLifecycleMs)} ms each, ${f(p.cpuPerLifecycleMs)} ms user+sys each`);
      if (p.failures > 0) console.log(`${key}: FAILED ${p.failures} of the ${p.n} lifecycles (a bug to look at, not noise), first: ${p.firstFailure}`);
    }
  }
  for (const [key, how] of [['spec', ''], ['executed', ', each helper executed']]) {
    const p = library[key].pool;
    if (!p) continue;
    console.log(
      `library, tsbox spec config${how}, ${p.inFlight} at a time: ${p.runs} runs in ${f(p.wallMs, 0)} ms = ${f(p.perSecond, 0)}/s; user+sys ${f(p.cpuPerRunMs)} ms per run (${f(p.cpuSelfPerRunMs)} ms of it in this process)`,
    );
  }
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

  // ---- issue 16's goals
  const goals = goalRows({ by, parallel, library, cri });
  console.log('');
  console.log("issue 16's figures (medians; goals are reported, not asserted):");
  console.log(
    table([
      ['work', 'tsbox', 'runc', 'node -e 0', 'measured', 'goal', 'verdict'],
      ...goals.map((g) => [g.work, g.tsbox, g.runc, g.node, g.measured, g.goal, g.verdict]),
    ]),
  );
  const t3 = overhead.failure ? 'n/a' : `${overhead.overheadMs <= 1 ? 'MET' : 'MISSED'} (${f(overhead.overheadMs)} ms)`;
  console.log(`resources overhead <= 1 ms: ${t3}`);

  if (o.svg) {
    fs.mkdirSync(path.dirname(o.svg), { recursive: true });
    fs.writeFileSync(o.svg, chart({ by, parallel, library, cri, crunNet, crunLifecycleNet, versions, quick: o.quick }));
    console.log(`chart written to ${path.relative(process.cwd(), o.svg) || o.svg}`);
  }

  if (o.json) {
    const cliOut = {};
    for (const c of cmds) {
      cliOut[c.key] = { name: c.name, command: c.argv.map(sq).join(' '), ...(c.stats ? { stats: c.stats, hyperfine: c.hyperfine, timesMs: c.times } : { failure: c.failure }) };
    }
    const out = {
      date: new Date().toISOString(),
      mode: o.quick ? 'quick' : 'default',
      params: {
        warmup: o.warmup,
        runs: o.runs,
        libWarmup: o.libWarmup,
        libN: o.libN,
        concurrency: o.concurrency,
        concurrentRounds: o.concurrentRounds,
        lifecycles: o.lifecycles,
        lifecycleParallel: o.lifecycleParallel,
        poolN: o.poolN,
        poolSize: o.poolSize,
      },
      loadAverage: os.loadavg(),
      versions,
      env: { NODE_EXTRA_CA_CERTS: caCerts !== undefined ? 'unset for all commands (was set)' : 'not set' },
      unit: 'ms',
      cli: cliOut,
      crunMinusWrapperMedian: crunNet,
      crunLifecycleMinusWrapperMedian: crunLifecycleNet,
      parallelLifecycles: parallel,
      goals,
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
      cri: cri ? (cri.tsbox ? { tsbox: cri.tsbox, runc: cri.runc, timesMs: cri.times } : cri) : { skipped: 'full bench only' },
      library: Object.fromEntries(
        Object.entries(library).map(([k, v]) => [k, v.failure ? { failure: v.failure } : { stats: v.stats, timesMs: v.times, concurrent: v.concurrent, pool: v.pool }]),
      ),
      targets: {
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
