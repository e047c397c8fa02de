'use strict';
// Checks of the systemd harness (test/v2/systemd.js) on a pure cgroup2
// host, run inside the pure cgroup v2 VM (test/v2/vm.js) by scripts/v2-tests.js after checks.js:
// a real systemd, reachable over D-Bus, whose transient scopes get cgroups
// with the limits asked for, which go away again. Then the tsbox systemd
// driver's checks, where test/v2/systemd-tsbox.js exists (see below), and
// last the harness's stop.
//
//   node test/v2/systemd-checks.js [RESULTS.json]   (root, pure cgroup2 host)
//
// Prints "V2RESULT {json}" per check (with "suite":"systemd"), as checks.js
// does. V2_ONLY=TEXT runs the checks whose names contain TEXT (systemd is
// started only where one is picked).
//
// test/v2/systemd-tsbox.js, where it exists, exports an async function (or
// one named tsboxSystemdChecks) called with
//   ctx = { sd, tmp, ROOT, TSBOX, check, busyboxBundle, unique }
// before systemd starts: it registers checks with ctx.check(name, async fn),
// which run after these and before the stop; ctx.sd (the startSystemd
// object) is there once they run.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startSystemd, systemdMissing } = require('./systemd');
const { busyboxBundle } = require('./bundle');
const { errorText, runAsScript, runCheck } = require('./run-checks');

const ROOT = path.resolve(__dirname, '..', '..');
const TSBOX = path.join(ROOT, 'bin', 'tsbox');
const CG = '/sys/fs/cgroup';
const MiB = 1024 * 1024;

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

let sd;
let serial = 0;
const unique = () => `tsbox-v2sd-${process.pid}-${++serial}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const read = (dir, file) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
const procs = (dir) => {
  try {
    return read(dir, 'cgroup.procs').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
const busctl = (...args) => sd.exec(['busctl', ...args]).then((r) => r.stdout.trim());
const MANAGER = ['org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager'];

// ---- the checks -------------------------------------------------------------------------------

check('systemd is PID 1 of its own pid namespace, at /init.scope of a cgroup namespace rooted at its cgroup; sd.exec runs in there, in the harness leaf', async () => {
  assert.match(fs.readFileSync(`/proc/${sd.pid}/status`, 'utf8'), new RegExp(`^NSpid:\\s+${sd.pid}\\s+1$`, 'm'));
  assert.equal(fs.readFileSync(`/proc/${sd.pid}/comm`, 'utf8'), 'systemd\n');
  assert.notEqual(fs.readlinkSync(`/proc/${sd.pid}/ns/pid`), fs.readlinkSync('/proc/self/ns/pid'));
  assert.equal(fs.readFileSync(`/proc/${sd.pid}/cgroup`, 'utf8'), `0::/${path.relative(CG, sd.cgroup)}/init.scope\n`);
  assert.equal((await sd.exec(['cat', '/proc/1/comm'])).stdout, 'systemd\n');
  assert.equal((await sd.exec(['cat', '/proc/self/cgroup'])).stdout, '0::/harness\n');
  assert.equal((await sd.exec(['readlink', '/proc/self/ns/pid'])).stdout.trim(), fs.readlinkSync(`/proc/${sd.pid}/ns/pid`));
  // Its cgroup2 mount shows its namespace's root: init.scope holds pid 1 there.
  assert.equal((await sd.exec(['cat', '/sys/fs/cgroup/init.scope/cgroup.procs'])).stdout, '1\n');
  assert.deepEqual(procs(path.join(sd.cgroup, 'init.scope')), [sd.pid]);
});

check('D-Bus: busctl reaches the manager on the system bus (dbus-daemon a service of it), systemctl over /run/systemd/private; it knows it is in a container', async () => {
  assert.ok(fs.existsSync(`/proc/${sd.pid}/root/run/dbus/system_bus_socket`));
  assert.ok(fs.existsSync(`/proc/${sd.pid}/root/run/systemd/private`));
  const version = /^s "(\d+)/.exec(await busctl('get-property', ...MANAGER, 'Version'));
  assert.ok(version, 'no Version');
  assert.equal(await busctl('get-property', ...MANAGER, 'Virtualization'), 's "container-other"');
  assert.equal(await busctl('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', 'org.freedesktop.systemd1'), 'b true');
  assert.equal((await sd.exec(['systemctl', 'is-system-running'])).stdout.trim(), 'running');
  // dbus-daemon's MainPID (systemd's pid namespace) is the one process in
  // its service's cgroup, read inside through systemd's cgroup2 mount.
  const mainPid = (await sd.exec(['systemctl', 'show', '-p', 'MainPID', '--value', 'dbus.service'])).stdout.trim();
  assert.equal((await sd.exec(['cat', '/sys/fs/cgroup/system.slice/dbus.service/cgroup.procs'])).stdout.trim(), mainPid);
  const [hostPid] = procs(path.join(sd.cgroup, 'system.slice', 'dbus.service'));
  assert.equal(String(sd.nsPid(hostPid)), mainPid);
});

check('systemd-run --scope -p MemoryMax -p TasksMax: the scope\'s cgroup is <root>/system.slice/<unit>.scope in the machine\'s tree with memory.max and pids.max; it goes when its process exits', async () => {
  const unit = unique();
  const child = sd.spawn(['systemd-run', '--quiet', '--scope', `--unit=${unit}`, '-p', `MemoryMax=${32 * MiB}`, '-p', 'TasksMax=20', 'sleep', '1000'], { stdio: 'ignore' });
  const exited = new Promise((r) => child.on('close', r));
  const scope = path.join(sd.cgroup, 'system.slice', `${unit}.scope`);
  // Its one process is systemd-run until it execs sleep.
  const cmdline = (pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  await waitUntil('the scope\'s cgroup with sleep in it', () => procs(scope).length === 1 && /(^|\/)sleep\u00001000\u0000$/.test(cmdline(procs(scope)[0])));
  assert.equal(read(scope, 'memory.max'), String(32 * MiB));
  assert.equal(read(scope, 'pids.max'), '20');
  const [pid] = procs(scope);
  assert.deepEqual(procs(scope), [pid]);
  assert.equal((await sd.exec(['systemctl', 'is-active', `${unit}.scope`])).stdout.trim(), 'active');
  process.kill(pid, 'SIGKILL');
  await waitUntil('the scope\'s cgroup to go', () => !fs.existsSync(scope));
  await exited;
  assert.equal((await sd.exec(['systemctl', 'is-active', `${unit}.scope`], { allowFailure: true })).stdout.trim(), 'inactive');
});

check('StartTransientUnit over D-Bus (busctl call, as a runtime\'s driver): a scope for a running pid with Delegate, MemoryMax, TasksMax; a delegated child cgroup works; StopUnit kills and removes it all', async () => {
  const unit = `${unique()}.scope`;
  // A process in systemd's pid namespace, outliving the shell that started it.
  const nsPid = Number((await sd.exec(['sh', '-c', 'sleep 1000 </dev/null >/dev/null 2>&1 & echo $!'])).stdout.trim());
  const reply = await busctl('call', ...MANAGER, 'StartTransientUnit', 'ssa(sv)a(sa(sv))', unit, 'fail', '4', 'PIDs', 'au', '1', String(nsPid), 'Delegate', 'b', 'true', 'MemoryMax', 't', String(48 * MiB), 'TasksMax', 't', '30', '0');
  assert.match(reply, /^o "\/org\/freedesktop\/systemd1\/job\/\d+"$/);
  const scope = path.join(sd.cgroup, 'system.slice', unit);
  await waitUntil('the scope\'s cgroup with the pid', () => procs(scope).length > 0);
  const [hostPid] = procs(scope);
  assert.equal(sd.nsPid(hostPid), nsPid);
  assert.deepEqual([read(scope, 'memory.max'), read(scope, 'pids.max')], [String(48 * MiB), '30']);
  assert.equal((await sd.exec(['systemctl', 'show', '-p', 'Delegate', '--value', unit])).stdout.trim(), 'yes');
  // Delegated: the payload may make its own tree (as a runtime does), moving
  // the process down and enabling a controller for its children.
  const sub = path.join(scope, 'payload');
  fs.mkdirSync(sub);
  fs.writeFileSync(path.join(sub, 'cgroup.procs'), String(hostPid));
  fs.writeFileSync(path.join(scope, 'cgroup.subtree_control'), '+memory');
  assert.match(read(sub, 'cgroup.controllers'), /\bmemory\b/);
  await busctl('call', ...MANAGER, 'StopUnit', 'ss', unit, 'fail');
  await waitUntil('the scope\'s cgroup to go', () => !fs.existsSync(scope));
  await waitUntil('the process to end', () => !alive(hostPid));
});

// ---- main -----------------------------------------------------------------------------------

/** Scope units left running (other than systemd's own init.scope): stopped, and named. */
async function leftoverScopes() {
  const r = await sd.exec(['systemctl', 'list-units', '--type=scope', '--all', '--plain', '--no-legend', '--no-pager'], { allowFailure: true });
  const left = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((u) => u && u.endsWith('.scope') && u !== 'init.scope');
  for (const u of left) await sd.exec(['systemctl', 'stop', u], { allowFailure: true });
  return left;
}

async function main() {
  const resultsFile = process.argv[2];
  if (!fs.existsSync(path.join(CG, 'cgroup.controllers')) || fs.existsSync(path.join(CG, 'memory'))) {
    throw new Error('not a pure cgroup2 host (cgroup2 at /sys/fs/cgroup)');
  }
  const missing = systemdMissing();
  if (missing) {
    console.log(`v2 systemd checks: SKIPPED: ${missing}`);
    return 0;
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2sd-'));
  const results = [];
  const report = (r) => {
    results.push({ suite: 'systemd', ...r });
    console.log(`V2RESULT ${JSON.stringify({ suite: 'systemd', ...r })}`);
    if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2));
  };
  try {
    const ctx = {
      get sd() {
        if (!sd) throw new Error('ctx.sd: systemd starts after the checks are registered; use ctx.sd inside a check');
        return sd;
      },
      tmp,
      ROOT,
      TSBOX,
      check,
      busyboxBundle,
      unique,
    };
    const hookFile = path.join(__dirname, 'systemd-tsbox.js');
    if (fs.existsSync(hookFile)) {
      const m = require(hookFile);
      const hook = typeof m === 'function' ? m : m.tsboxSystemdChecks;
      if (typeof hook !== 'function') throw new Error(`${hookFile}: exports no function (module.exports or tsboxSystemdChecks)`);
      await hook(ctx);
    }
    const stopName = 'sd.stop(): systemd exits on SIGRTMIN+14 (no SIGKILL needed), and no cgroup directory is left';
    const only = process.env.V2_ONLY;
    const picked = checks.filter((c) => !only || c.name.includes(only));
    const stopPicked = !only || stopName.includes(only);
    if (picked.length === 0 && !stopPicked) return 0;

    const startName = 'startSystemd: systemd up in its namespaces, its manager answering over D-Bus';
    await runCheck(startName, async () => (sd = await startSystemd(tmp, { timeoutMs: 180000 })), report);
    if (!sd) return 1;
    try {
      for (const c of picked) {
        await runCheck(c.name, c.fn, report, () => sd.logs());
        const left = await leftoverScopes();
        if (left.length > 0) report({ name: `${c.name}: clean-up`, ok: false, error: `scopes left running: ${left.join(', ')}` });
      }
    } finally {
      const t = Date.now();
      const pid = sd.pid;
      try {
        const stop = await sd.stop();
        if (stopPicked) {
          assert.equal(stop.forced, false, `systemd did not exit in time on SIGRTMIN+14: SIGKILLed\n${sd.logs()}`);
          // PID 1 ending through reboot(2) (poweroff) in a pid namespace: SIGINT, which script(1) reports as 128+2.
          assert.equal(stop.exit.code, 130, `script(1) exit: ${JSON.stringify(stop.exit)}\n${sd.logs()}`);
          assert.equal(alive(pid), false);
          assert.equal(fs.existsSync(sd.cgroup), false, `${sd.cgroup} is left`);
          report({ name: stopName, ok: true, ms: Date.now() - t });
        }
      } catch (err) {
        report({ name: stopName, ok: false, ms: Date.now() - t, error: errorText(err) });
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

module.exports = { checks: checks.map((c) => c.name) };

if (require.main === module) runAsScript(main, 'v2 systemd checks');
