'use strict';
// tsbox's systemd cgroup driver (--systemd-cgroup) against a real systemd:
// run inside the v2 VM, in the namespaces of the systemd that
// test/v2/systemd.js starts there (scripts/v2-tests.js boots the VM).
// test/v2/systemd-checks.js calls the exported function, which registers
// each check below; a check runs this file as a script inside systemd's
// namespaces (where /run/systemd/private is systemd's and /sys/fs/cgroup is
// rooted at systemd's cgroup):
//
//   node test/v2/systemd-tsbox.js CHECK-NAME DIR   (DIR: kept across checks)
//
// Checked from outside (systemctl, the scope's cgroup files) and inside (what
// the container's process sees): the scope and its limits, update, pause,
// exec, delete, the default unit name with a 512 KiB limit, a failed create
// and a refused cgroupfs path leaving no unit behind, the library's
// cgroupDriver option, and the driver's cost against cgroupfs.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { busyboxBundle } = require('./bundle');
const { errorText } = require('./run-checks');

const ROOT = path.resolve(__dirname, '..', '..');
const TSBOX = path.join(ROOT, 'bin', 'tsbox');
const CG = '/sys/fs/cgroup';
const MiB = 1024 * 1024;

let tmp;
let stateRoot;
let serial = 0;

/** A busybox bundle under tmp (test/v2/bundle.js), with a cgroup namespace of its own. */
function bundle(args, linux = {}, more = {}) {
  const namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'cgroup' }];
  return busyboxBundle(path.join(tmp, `b${process.pid}-${++serial}`), args, { linux: { namespaces, ...linux }, ...more });
}

/**
 * tsbox with the driver. Its stdout and stderr go to a file, not a pipe: a
 * created container keeps the caller's descriptors, and a pipe would stay
 * open (and spawnSync waiting) as long as the container runs.
 */
function tsbox(args, { systemd = true } = {}) {
  const log = path.join(tmp, `out${process.pid}-${++serial}`);
  const fd = fs.openSync(log, 'w');
  let r;
  try {
    r = spawnSync(TSBOX, ['--root', stateRoot, ...(systemd ? ['--systemd-cgroup'] : []), ...args], { stdio: ['ignore', fd, fd], timeout: 60_000 });
  } finally {
    fs.closeSync(fd);
  }
  const out = fs.readFileSync(log, 'utf8');
  if (r.error) throw new Error(`tsbox ${args.join(' ')}: ${r.error.message}: ${out}`);
  return { status: r.status, out };
}

function ok(args, opts) {
  const r = tsbox(args, opts);
  if (r.status !== 0) throw new Error(`tsbox ${args.join(' ')} exited ${r.status}: ${r.out}`);
  return r.out;
}

/** systemctl show's properties of a unit, as an object. */
function show(unit, ...props) {
  const r = spawnSync('systemctl', ['show', unit, ...props.map((p) => `-p${p}`)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`systemctl show ${unit}: ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** tsbox's scopes systemd still knows of. */
function tsboxUnits() {
  const r = spawnSync('systemctl', ['list-units', '--all', '--plain', '--no-legend', 'tsbox-*', 'sdt-*'], { encoding: 'utf8' });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0]);
}

const read = (dir, file) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

check('systemd driver: create makes the scope (slice, limits as files and unit properties), the init born in it; start, exec, update, daemon-reload, pause, events, delete stops it', async () => {
  const b = bundle(['sleep', '1000'], {
    cgroupsPath: 'system.slice:sdt:one',
    resources: { memory: { limit: 64 * MiB }, pids: { limit: 50 }, cpu: { quota: 50000, period: 100000, shares: 512 } },
  });
  ok(['create', '--bundle', b, 'one']);
  const unit = show('sdt-one.scope', 'ActiveState', 'ControlGroup', 'MemoryMax', 'TasksMax', 'CPUQuotaPerSecUSec', 'Delegate', 'Slice');
  assert.deepEqual(unit, {
    ActiveState: 'active',
    ControlGroup: '/system.slice/sdt-one.scope',
    MemoryMax: String(64 * MiB),
    TasksMax: '50',
    CPUQuotaPerSecUSec: '500ms',
    Delegate: 'yes',
    Slice: 'system.slice',
  });
  const dir = path.join(CG, 'system.slice', 'sdt-one.scope');
  assert.deepEqual([read(dir, 'memory.max'), read(dir, 'pids.max'), read(dir, 'cpu.max')], [String(64 * MiB), '50', '50000 100000']);
  const state = JSON.parse(ok(['state', 'one']));
  assert.equal(state.status, 'created');
  // Only the init: the helper that held the scope open is gone.
  assert.deepEqual(read(dir, 'cgroup.procs').split('\n'), [String(state.pid)]);
  assert.equal(fs.readFileSync(`/proc/${state.pid}/cgroup`, 'utf8').trim(), '0::/system.slice/sdt-one.scope');

  // start, exec, update (files and properties), pause/resume, events --stats, delete.
  ok(['start', 'one']);
  // Inside: the container's own cgroup namespace is rooted at the scope.
  const exec = ok(['exec', 'one', 'cat', '/proc/self/cgroup']).trim();
  assert.equal(exec, '0::/');
  ok(['update', '--memory', '128M', '--pids-limit', '60', '--cpu-quota', '20000', 'one']);
  assert.deepEqual([read(dir, 'memory.max'), read(dir, 'pids.max'), read(dir, 'cpu.max')], [String(128 * MiB), '60', '20000 100000']);
  assert.deepEqual(show('sdt-one.scope', 'MemoryMax', 'TasksMax', 'CPUQuotaPerSecUSec'), { MemoryMax: String(128 * MiB), TasksMax: '60', CPUQuotaPerSecUSec: '200ms' });
  // A reload makes systemd write the unit's limits again: they must stay.
  const reload = spawnSync('systemctl', ['daemon-reload'], { encoding: 'utf8' });
  assert.equal(reload.status, 0, reload.stderr);
  assert.deepEqual([read(dir, 'memory.max'), read(dir, 'pids.max')], [String(128 * MiB), '60']);
  ok(['pause', 'one']);
  assert.equal(JSON.parse(ok(['state', 'one'])).status, 'paused');
  assert.equal(read(dir, 'cgroup.freeze'), '1');
  ok(['resume', 'one']);
  assert.equal(JSON.parse(ok(['state', 'one'])).status, 'running');
  const stats = JSON.parse(ok(['events', '--stats', 'one']));
  assert.equal(stats.data.memory.usage.limit, 128 * MiB);
  assert.equal(stats.data.pids.current, 1);
  ok(['delete', '--force', 'one']);
  assert.equal(fs.existsSync(dir), false, `${dir} is still there`);
  assert.equal(show('sdt-one.scope', 'LoadState').LoadState, 'not-found');
});

check('systemd driver: no cgroupsPath is system.slice/tsbox-<id>.scope; with a 512 KiB limit /bin/true runs (run)', async () => {
  const b = bundle(['true'], { resources: { memory: { limit: 512 * 1024 } } });
  const scope = path.join(CG, 'system.slice', 'tsbox-tiny.scope');
  // While it runs: the default name, and the limit in place.
  const held = bundle(['sleep', '1000'], { resources: { memory: { limit: 512 * 1024 } } });
  ok(['run', '--detach', '--bundle', held, 'tiny']);
  assert.equal(read(scope, 'memory.max'), String(512 * 1024));
  assert.equal(show('tsbox-tiny.scope', 'ActiveState').ActiveState, 'active');
  ok(['delete', '--force', 'tiny']);
  assert.equal(fs.existsSync(scope), false);
  const r = tsbox(['run', '--bundle', b, 'tiny2']);
  assert.equal(r.status, 0, r.out);
  assert.deepEqual(tsboxUnits(), []);
});

check('systemd driver: a failed create and a cgroupfs path leave no unit, cgroup or state behind', async () => {
  const bad = bundle(['true'], { cgroupsPath: 'system.slice:sdt:bad' }, { mounts: [{ destination: '/x', type: 'bind', source: '/no/such/source', options: ['bind'] }] });
  const r = tsbox(['create', '--bundle', bad, 'bad']);
  assert.equal(r.status, 1, r.out);
  assert.match(r.out, /\/no\/such\/source/);
  const fsPath = bundle(['true'], { cgroupsPath: '/sdt-cgroupfs' });
  const r2 = tsbox(['create', '--bundle', fsPath, 'fspath']);
  assert.equal(r2.status, 1, r2.out);
  assert.match(r2.out, /linux.cgroupsPath "\/sdt-cgroupfs": with --systemd-cgroup it must have the form "slice:prefix:name"/);
  assert.deepEqual(tsboxUnits(), []);
  assert.equal(fs.existsSync(path.join(CG, 'system.slice', 'sdt-bad.scope')), false);
  assert.equal(fs.existsSync(path.join(CG, 'sdt-cgroupfs')), false);
  assert.equal(ok(['list', '-q']).trim(), '');
});

check('systemd driver: the library (new Runtime({ cgroupDriver: "systemd" })) runs a container in a scope', async () => {
  const lib = require(path.join(ROOT, 'dist', 'index.js'));
  const rt = new lib.Runtime({ root: stateRoot, cgroupDriver: 'systemd' });
  const b = bundle(['cat', '/proc/self/cgroup'], { cgroupsPath: 'system.slice:sdt:lib', namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }] });
  const c = await rt.run('lib', lib.loadBundle(b), { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  c.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  assert.equal((await c.exited).status, 0);
  await sleep(50);
  assert.equal(out.trim(), '0::/system.slice/sdt-lib.scope');
  assert.deepEqual(tsboxUnits(), []);
});

check('systemd driver: cost against cgroupfs (run of /bin/true with a Docker-like resource set, median of 5)', async () => {
  const resources = { memory: { limit: 64 * MiB }, cpu: { shares: 512, quota: 50000, period: 100000 }, pids: { limit: 100 }, blockIO: { weight: 500 } };
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = (systemd, cgroupsPath) => {
    const times = [];
    for (let i = 0; i < 5; i++) {
      const b = bundle(['true'], { cgroupsPath: `${cgroupsPath}${i}`, resources });
      const t = process.hrtime.bigint();
      ok(['run', '--bundle', b, `cost${systemd ? 's' : 'f'}${i}`], { systemd });
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
    return median(times);
  };
  const systemd = time(true, 'system.slice:sdt:cost');
  const cgroupfs = time(false, '/sdt-cost');
  console.log(`V2INFO systemd driver: run ${systemd.toFixed(0)} ms, cgroupfs ${cgroupfs.toFixed(0)} ms (median of 5, in the VM: ~14x slower than the host)`);
  assert.deepEqual(tsboxUnits(), []);
});

check('systemd driver: a create killed while its init waits at a prestart hook (the scope made): delete --force stops the scope and leaves no state', async () => {
  const hookPid = path.join(tmp, 'hook.pid');
  const b = bundle(['sleep', '100'], { cgroupsPath: 'system.slice:sdt:killed' }, {
    hooks: { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `echo $$ > ${hookPid}; exec sleep 60`] }] },
  });
  const log = fs.openSync(path.join(tmp, 'killed.out'), 'w');
  const create = spawn(TSBOX, ['--root', stateRoot, '--systemd-cgroup', 'create', '--bundle', b, 'killed'], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise((resolve) => create.once('exit', resolve));
  for (let i = 0; i < 600 && !(fs.existsSync(hookPid) && fs.readFileSync(hookPid, 'utf8').endsWith('\n')); i++) await sleep(50);
  assert.deepEqual(tsboxUnits(), ['sdt-killed.scope']);
  create.kill('SIGKILL');
  await exited;
  process.kill(Number(fs.readFileSync(hookPid, 'utf8')), 'SIGKILL');
  const r = tsbox(['delete', '--force', 'killed']);
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out, '');
  assert.deepEqual(tsboxUnits(), []);
  assert.equal(fs.existsSync(path.join(CG, 'system.slice', 'sdt-killed.scope')), false);
  assert.equal(fs.existsSync(path.join(stateRoot, 'killed')), false);
});

check('systemd driver: pids.limit 0 is a limit (runc 1.4): pids.max 0 in the scope once the init is set up (TasksMax 1: systemd refuses 0), no new process after daemon-reload either; inside, no fork; outside, exec cannot add a process; update to 0 too', async () => {
  // What systemd itself says of TasksMax=0 (why tsbox writes pids.max).
  const direct = spawnSync('systemd-run', ['--scope', '--unit', 'sdt-tasks0', '-p', 'TasksMax=0', '/bin/true'], { encoding: 'utf8' });
  console.log(`V2INFO systemd-run -p TasksMax=0: status ${direct.status}: ${(direct.stderr || direct.stdout).trim().split('\n')[0]}`);
  spawnSync('systemctl', ['stop', 'sdt-tasks0.scope']);
  // Inside: the process runs, and cannot make another (busybox sh gives up).
  const once = bundle(['sh', '-c', 'echo running; /bin/true; echo forked'], { cgroupsPath: 'system.slice:sdt:zero1', resources: { pids: { limit: 0 } } });
  const r = tsbox(['run', '--bundle', once, 'zero1']);
  assert.equal(r.status, 2, r.out);
  assert.equal(r.out, "running\nsh: can't fork: Resource temporarily unavailable\n");
  // Outside, while it runs: 0 in the file; systemd, which refuses
  // TasksMax=0, holds 1, which admits no new process beside the init either.
  const b = bundle(['sleep', '1000'], { cgroupsPath: 'system.slice:sdt:zero', resources: { pids: { limit: 0 } } });
  ok(['run', '--detach', '--bundle', b, 'zero']);
  const dir = path.join(CG, 'system.slice', 'sdt-zero.scope');
  const noNewProcess = () => {
    const e = tsbox(['exec', 'zero', '/bin/true']);
    assert.notEqual(e.status, 0, e.out);
    assert.equal(read(dir, 'cgroup.procs').split('\n').length, 1);
  };
  assert.equal(read(dir, 'pids.max'), '0');
  assert.equal(show('sdt-zero.scope', 'TasksMax').TasksMax, '1');
  noNewProcess();
  // A reload makes systemd write its TasksMax again: 1, still no new process.
  const reload = spawnSync('systemctl', ['daemon-reload'], { encoding: 'utf8' });
  assert.equal(reload.status, 0, reload.stderr);
  assert.equal(read(dir, 'pids.max'), '1', 'pids.max after daemon-reload');
  noNewProcess();
  // update to a number and back to 0: the file and the unit.
  ok(['update', '--pids-limit', '5', 'zero']);
  assert.deepEqual([read(dir, 'pids.max'), show('sdt-zero.scope', 'TasksMax').TasksMax], ['5', '5']);
  assert.equal(tsbox(['exec', 'zero', '/bin/true']).status, 0);
  ok(['update', '--pids-limit', '0', 'zero']);
  assert.deepEqual([read(dir, 'pids.max'), show('sdt-zero.scope', 'TasksMax').TasksMax], ['0', '1']);
  noNewProcess();
  ok(['delete', '--force', 'zero']);
  assert.equal(fs.existsSync(dir), false);
  assert.deepEqual(tsboxUnits(), []);
});

check('systemd driver: no container, scope or state is left', async () => {
  const ids = ok(['list', '-q']).split('\n').filter(Boolean);
  for (const id of ids) tsbox(['delete', '--force', id]);
  const units = tsboxUnits();
  for (const u of units) spawnSync('systemctl', ['stop', u]);
  assert.deepEqual({ ids, units }, { ids: [], units: [] });
});

/** Runs one check inside systemd's namespaces: exit status 0, or 1 with why on stderr. */
async function inner(name, dir) {
  tmp = dir;
  stateRoot = path.join(dir, 'state');
  fs.mkdirSync(dir, { recursive: true });
  const c = checks.find((x) => x.name === name);
  if (!c) throw new Error(`no check named "${name}"`);
  await c.fn();
}

/** Registers the checks with test/v2/systemd-checks.js. */
module.exports = async function tsboxSystemdChecks(ctx) {
  const dir = path.join(ctx.tmp, 'tsbox-driver');
  for (const c of checks) {
    ctx.check(c.name, async () => {
      const r = await ctx.sd.exec([process.execPath, __filename, c.name, dir], { allowFailure: true, timeoutMs: 300_000 });
      for (const line of r.stdout.split('\n')) if (line.startsWith('V2INFO')) console.log(line);
      if (r.status !== 0) throw new Error(`${r.stderr.trim()}\n${r.stdout.trim()}`);
    });
  }
};

if (require.main === module) {
  inner(process.argv[2], process.argv[3]).then(
    () => process.exit(0),
    (err) => {
      console.error(errorText(err));
      process.exit(1);
    },
  );
}
