'use strict';
// Pure cgroup v2 checks, run inside the pure cgroup v2 VM (test/v2/vm.js; see scripts/v2-tests.js,
// which boots it): cgroup2 mounted at /sys/fs/cgroup with every controller,
// no v1 hierarchy. Plain Node (no vitest: JavaScript runs ~14x slower in
// the VM), driving tsbox's library from dist/ on real containers and
// checking the effect from inside (what a process in the container runs
// into) and outside (the cgroup files).
//
//   node test/v2/checks.js [RESULTS.json]     (root, on a pure cgroup2 host)
//
// Prints one line per check, "V2RESULT {json}", which the wrapper reads
// from the VM's console; RESULTS.json gets them all too.
//
// Environment: TSBOX_PROBE, a static test/fixtures/probe.c binary.
// Every container and cgroup is made under a unique name and removed
// afterwards, pass or fail.

const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { busyboxBundle } = require('./bundle');
const { runAsScript, runCheck } = require('./run-checks');

const ROOT = path.resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;

/** Checks by name; scripts/v2-tests.js lists them. */
const checks = [];
const check = (name, fn) => checks.push({ name, fn });

// ---- helpers ------------------------------------------------------------------------------

let lib;
let native;
let tmp;
let rt;
let stateRoot;
let serial = 0;

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(what, fn, ms = 20000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const CG = '/sys/fs/cgroup';
const read = (dir, file) => fs.readFileSync(path.join(dir, file), 'utf8').trim();
const procs = (dir) => {
  try {
    return read(dir, 'cgroup.procs').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const counters = (dir, file) => Object.fromEntries(read(dir, file).split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

/** A bundle under tmp: busybox rootfs with /bin/probe, the test config's shape. */
function bundle(args, linux = {}, more = {}) {
  return busyboxBundle(path.join(tmp, `b${++serial}`), args, { linux, mounts: more.mounts });
}

const unique = () => `tsbox-v2-${process.pid}-${++serial}`;

/** Creates and starts a container; returns its id, init pid and cgroup dir. */
async function started(args, name, resources, more = {}) {
  const id = unique();
  const dir = bundle(args, { cgroupsPath: name, ...(resources && { resources }), ...(more.linux ?? {}) }, more);
  const s = await rt.create(id, dir, { stdio: more.stdio ?? 'ignore' });
  await rt.start(id);
  return { id, pid: s.pid, cg: path.join(CG, name) };
}

async function waitStopped(id) {
  await waitUntil(`${id} to stop`, () => rt.state(id).status === 'stopped');
}

/** Runs `args` in the container: its stdout, exit status and how long it took (ms, from here). */
async function execIn(id, args) {
  const t = Date.now();
  const p = await rt.exec(id, { args, env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const exit = await p.exited;
  const ms = Date.now() - t;
  await sleep(20);
  return { out: out.trim(), status: exit.status, ms };
}

/** A host directory for a check's files, bound at /out in its container. */
function outDir() {
  const out = path.join(tmp, `out-${++serial}`);
  fs.mkdirSync(out);
  return { out, mounts: [{ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] }] };
}

/** The key paths of a JSON value ("memory.usage.limit"), arrays as one level: its shape. */
function shape(v, at = '') {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [at];
  return Object.keys(v).flatMap((k) => shape(v[k], at ? `${at}.${k}` : k));
}

/** Rejects when `promise` takes longer than `ms`. */
function within(ms, what, promise) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** Removes what a check left: its containers (delete --force) and cgroups with its names. */
async function cleanUp() {
  for (const s of rt.list()) await rt.delete(s.id, { force: true }).catch(() => undefined);
  for (const d of fs.readdirSync(CG)) {
    if (!d.startsWith(`tsbox-v2-${process.pid}-`)) continue;
    const walk = (p) => {
      for (const e of fs.readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(p, e.name));
      try {
        fs.writeFileSync(path.join(p, 'cgroup.kill'), '1');
      } catch {}
      for (let i = 0; i < 100; i++) {
        try {
          fs.rmdirSync(p);
          break;
        } catch {
          execFileSync('sleep', ['0.02']);
        }
      }
    };
    walk(path.join(CG, d));
  }
}

// ---- the checks -------------------------------------------------------------------------------

check('memory.max: the file has the limit; a hog inside is OOM-killed (memory.events oom_kill)', async () => {
  const name = unique();
  // The shell doubles a variable against a 16 MiB limit without swap: one
  // process, so one OOM kill (a pipeline's second member was at times
  // killed in a second episode).
  const c = await started(['sh', '-c', 'x=a; while :; do x=$x$x; done'], name, { memory: { limit: 16 * MiB, swap: 16 * MiB } });
  assert.equal(read(c.cg, 'memory.max'), String(16 * MiB));
  assert.equal(read(c.cg, 'memory.swap.max'), '0');
  await waitUntil('an OOM kill', () => counters(c.cg, 'memory.events').oom_kill >= 1);
  await waitStopped(c.id);
  assert.equal(counters(c.cg, 'memory.events').oom_kill, 1);
});

check('pids.max: a fork loop stops at the limit (pids.events max counts the refusals)', async () => {
  const name = unique();
  const c = await started(['sh', '-c', 'for i in $(seq 1 30); do sleep 100 & done 2>/dev/null; exec sleep 100'], name, { pids: { limit: 10 } });
  assert.equal(read(c.cg, 'pids.max'), '10');
  await waitUntil('refused forks', () => counters(c.cg, 'pids.events').max > 0);
  assert.ok(procs(c.cg).length <= 10, `${procs(c.cg).length} processes`);
});

check('cpu: shares 1024 -> cpu.weight 100 (runc 1.4), quota/period -> cpu.max; a busy loop is throttled (cpu.stat)', async () => {
  const name = unique();
  const c = await started(['sh', '-c', 'while :; do :; done'], name, { cpu: { shares: 1024, quota: 20000, period: 100000 } });
  assert.equal(read(c.cg, 'cpu.weight'), '100');
  assert.equal(read(c.cg, 'cpu.max'), '20000 100000');
  await waitUntil('throttling', () => counters(c.cg, 'cpu.stat').nr_throttled > 0);
});

check('blockIO.weight 500 -> io.weight "default 4950" (where the kernel has io.weight)', async () => {
  const name = unique();
  const c = await started(['sleep', '100'], name, { blockIO: { weight: 500 } });
  assert.equal(read(c.cg, 'io.weight'), 'default 4950');
});

check('cpuset: cpus and mems land in cpuset.cpus/mems; the affinity inside is that CPU', async () => {
  const name = unique();
  const out = path.join(tmp, `affinity-${serial}`);
  fs.mkdirSync(out);
  const c = await started(['sh', '-c', 'grep Cpus_allowed_list /proc/self/status > /out/a; exec sleep 100'], name, { cpu: { cpus: '1', mems: '0' } }, {
    mounts: [{ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] }],
  });
  assert.equal(read(c.cg, 'cpuset.cpus'), '1');
  assert.equal(read(c.cg, 'cpuset.mems'), '0');
  await waitUntil('the affinity', () => fs.existsSync(path.join(out, 'a')) && fs.readFileSync(path.join(out, 'a'), 'utf8').includes('\n'));
  assert.match(fs.readFileSync(path.join(out, 'a'), 'utf8'), /Cpus_allowed_list:\s+1\n/);
});

check('pause/resume: cgroup.freeze and cgroup.events "frozen 1"; a counter stops, and moves on after resume', async () => {
  const name = unique();
  const out = path.join(tmp, `count-${serial}`);
  fs.mkdirSync(out);
  const c = await started(['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done'], name, { pids: { limit: 50 } }, {
    mounts: [{ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] }],
  });
  const n = () => Number(fs.readFileSync(path.join(out, 'n'), 'utf8')) || 0;
  await waitUntil('the counter', () => fs.existsSync(path.join(out, 'n')) && n() > 2);
  await rt.pause(c.id);
  assert.equal(rt.state(c.id).status, 'paused');
  assert.equal(read(c.cg, 'cgroup.freeze'), '1');
  assert.match(read(c.cg, 'cgroup.events'), /frozen 1/);
  const at = n();
  await sleep(500);
  assert.equal(n(), at);
  await rt.resume(c.id);
  assert.match(read(c.cg, 'cgroup.events'), /frozen 0/);
  await waitUntil('the counter to move on', () => n() > at + 1);
});

const FORKER = 'for i in $(seq 1 20); do sleep 1000 & done; (setsid sh -c "sleep 1000 & exec sleep 1001" &); while :; do sleep 1000 & sleep 0.05; done';
const noPidNs = { linux: { namespaces: [{ type: 'mount' }, { type: 'ipc' }, { type: 'uts' }] } };

for (const signal of ['SIGKILL', 'SIGTERM']) {
  check(`kill --all ${signal} (${signal === 'SIGKILL' ? 'cgroup.kill' : 'freeze, signal, thaw'}): no process left, a setsid daemon included`, async () => {
    const name = unique();
    const c = await started(['sh', '-c', FORKER], name, undefined, noPidNs);
    await waitUntil('the forks', () => procs(c.cg).length > 22);
    const before = procs(c.cg);
    await rt.kill(c.id, signal, { all: true });
    await waitUntil('the cgroup to empty', () => procs(c.cg).length === 0);
    assert.deepEqual(before.filter(alive), []);
    assert.match(read(c.cg, 'cgroup.events'), /frozen 0/);
    await rt.delete(c.id);
    assert.equal(fs.existsSync(c.cg), false);
  });
}

check('devices: the eBPF program is attached on create; after a deny-all, a node of another device gets EPERM, the defaults work; update replaces it', async () => {
  const name = unique();
  const c = await started(['sleep', '1000'], name, { devices: [{ allow: false, access: 'rwm' }] });
  const ids = native.deviceProgramIds(c.cg);
  assert.equal(ids.length, 1);
  const execOut = async (args) => (await execIn(c.id, args)).out;
  assert.equal(await execOut(['sh', '-c', 'mknod /dev/k c 1 11 && /bin/probe open /dev/k w']), '{"ok":false,"errno":1,"error":"Operation not permitted"}');
  assert.equal(await execOut(['sh', '-c', 'mknod /dev/nul c 1 3 && /bin/probe open /dev/nul rw']), '{"ok":true}');
  await rt.update(c.id, { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }] });
  const after = native.deviceProgramIds(c.cg);
  assert.equal(after.length, 1);
  assert.notEqual(after[0], ids[0]);
  assert.equal(await execOut(['/bin/probe', 'open', '/dev/k', 'w']), '{"ok":true}');
  assert.equal(await execOut(['/bin/probe', 'open', '/dev/k', 'r']), '{"ok":false,"errno":1,"error":"Operation not permitted"}');
});

check('update: memory.max and pids.max change live; what update leaves out stays', async () => {
  const name = unique();
  const c = await started(['sleep', '1000'], name, { memory: { limit: 64 * MiB }, pids: { limit: 50 }, cpu: { shares: 2048 } });
  await rt.update(c.id, { memory: { limit: 32 * MiB }, pids: { limit: 20 } });
  assert.equal(read(c.cg, 'memory.max'), String(32 * MiB));
  assert.equal(read(c.cg, 'pids.max'), '20');
  assert.equal(read(c.cg, 'cpu.weight'), '174');
});

check('delete removes exactly the directories tsbox made: a parent that existed stays; a nested new path gets its controllers delegated', async () => {
  const parent = unique();
  fs.mkdirSync(path.join(CG, parent));
  fs.writeFileSync(path.join(CG, parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
  const c = await started(['sleep', '1000'], `${parent}/mid/leaf`, { memory: { limit: 64 * MiB }, pids: { limit: 10 } });
  assert.equal(read(path.join(CG, parent, 'mid', 'leaf'), 'pids.max'), '10');
  assert.deepEqual(procs(path.join(CG, parent, 'mid', 'leaf')), [c.pid]);
  await rt.delete(c.id, { force: true });
  assert.equal(fs.existsSync(path.join(CG, parent, 'mid')), false);
  assert.equal(fs.existsSync(path.join(CG, parent)), true);
  fs.rmdirSync(path.join(CG, parent));
});

check('a relative cgroupsPath, with the runtime in a leaf cgroup that holds processes: the container goes under its parent (as runc), and its limits apply', async () => {
  const top = unique();
  const runner = path.join(CG, top, 'runner');
  fs.mkdirSync(runner, { recursive: true });
  // This process (the runtime) into the leaf: the leaf now holds processes,
  // so no controller could be enabled for a child of it.
  fs.writeFileSync(path.join(runner, 'cgroup.procs'), String(process.pid));
  try {
    const id = unique();
    const dir = bundle(['sleep', '1000'], { cgroupsPath: 'rel', resources: { memory: { limit: 64 * MiB }, pids: { limit: 10 } } });
    const s = await rt.create(id, dir, { stdio: 'ignore' });
    const cg = path.join(CG, top, 'rel');
    assert.deepEqual(procs(cg), [s.pid]);
    assert.equal(read(cg, 'memory.max'), String(64 * MiB));
    assert.equal(read(cg, 'pids.max'), '10');
    assert.equal(fs.existsSync(path.join(runner, 'rel')), false);
    await rt.delete(id, { force: true });
    assert.equal(fs.existsSync(cg), false);
  } finally {
    fs.writeFileSync(path.join(CG, 'cgroup.procs'), String(process.pid));
  }
});

check('a 512 KiB memory limit: run() of /bin/true exits 0 (the init is cloned into the cgroup)', async () => {
  const name = unique();
  const dir = bundle(['/bin/true'], { cgroupsPath: name, resources: { memory: { limit: 524288 } } });
  const c = await lib.run(dir, { stdio: 'ignore' });
  const exit = await c.exited;
  assert.deepEqual([exit.status, exit.signal], [0, null]);
  assert.equal(fs.existsSync(path.join(CG, name)), false);
});

check('the init is cloned into its cgroup2 cgroup; with a cgroup namespace it sees itself at "/"', async () => {
  const name = unique();
  const out = path.join(tmp, `cg-${serial}`);
  fs.mkdirSync(out);
  const mounts = [{ destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] }];
  const c = await started(['sh', '-c', 'cat /proc/self/cgroup > /out/c; exec sleep 100'], name, { pids: { limit: 10 } }, {
    mounts,
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'cgroup' }] },
  });
  assert.equal(fs.readFileSync(`/proc/${c.pid}/cgroup`, 'utf8'), `0::/${name}\n`);
  await waitUntil('the output', () => fs.existsSync(path.join(out, 'c')) && fs.readFileSync(path.join(out, 'c'), 'utf8').length > 0);
  assert.equal(fs.readFileSync(path.join(out, 'c'), 'utf8'), '0::/\n');
});

check('stats on cgroup2: cpu.stat usec -> ns (usage, throttling under cpu.max), memory.current/max/peak/stat, pids, in runc\'s field names; `tsbox events --stats` the same shape', async () => {
  const name = unique();
  const c = await started(['sh', '-c', 'sleep 1000 & while :; do :; done'], name, {
    cpu: { quota: 20000, period: 100000 },
    memory: { limit: 64 * MiB, swap: 96 * MiB },
    pids: { limit: 20 },
  });
  await waitUntil('throttling', () => counters(c.cg, 'cpu.stat').nr_throttled > 1);
  const before = counters(c.cg, 'cpu.stat');
  const s = await rt.stats(c.id);
  const after = counters(c.cg, 'cpu.stat');
  // Each value lies between the file's reads just before and after, scaled as runc scales it.
  const between = (value, key, scale) => {
    assert.ok(value >= before[key] * scale && value <= after[key] * scale, `${key}: ${value} not in [${before[key] * scale}, ${after[key] * scale}]`);
  };
  between(s.cpu.usage.total, 'usage_usec', 1000);
  between(s.cpu.usage.user, 'user_usec', 1000);
  between(s.cpu.usage.kernel, 'system_usec', 1000);
  between(s.cpu.throttling.periods, 'nr_periods', 1);
  between(s.cpu.throttling.throttledPeriods, 'nr_throttled', 1);
  between(s.cpu.throttling.throttledTime, 'throttled_usec', 1000);
  assert.ok(s.cpu.throttling.throttledTime > 0);

  const stat = counters(c.cg, 'memory.stat');
  assert.deepEqual(Object.keys(s.memory.raw).sort(), Object.keys(stat).sort());
  assert.equal(s.memory.cache, s.memory.raw.file || undefined);
  assert.equal(s.memory.usage.limit, 64 * MiB);
  assert.ok(s.memory.usage.usage > 0 && s.memory.usage.usage <= 64 * MiB, `usage ${s.memory.usage.usage}`);
  assert.ok(s.memory.usage.max >= s.memory.usage.usage, 'max (memory.peak) below usage');
  // cgroup2 has no failcnt (its equivalent is memory.events "max"): 0, as runc reports it.
  assert.equal(s.memory.usage.failcnt, 0);
  assert.equal(counters(c.cg, 'memory.events').max, 0);
  // v1's memsw: memory plus swap.
  assert.equal(read(c.cg, 'memory.swap.max'), String(32 * MiB));
  assert.equal(s.memory.swap.limit, 96 * MiB);
  assert.ok(s.memory.swap.usage >= s.memory.usage.usage - MiB);
  assert.deepEqual([s.pids.current, s.pids.limit], [Number(read(c.cg, 'pids.current')), 20]);
  assert.equal(s.pids.current, 2);
  assert.deepEqual(s.cpuset.cpus, [0, 1]);
  assert.deepEqual(s.cpuset.mems, [0]);

  // runc's field names (types.Stats), the zero ones it omits left out.
  assert.deepEqual(Object.keys(s), ['cpu', 'cpuset', 'memory', 'pids', 'blkio', 'hugetlb', 'intel_rdt', 'network_interfaces']);
  assert.deepEqual(Object.keys(s.cpu.usage).sort(), ['kernel', 'total', 'user']);
  assert.deepEqual(Object.keys(s.cpu.throttling).sort(), ['periods', 'throttledPeriods', 'throttledTime']);
  assert.deepEqual(Object.keys(s.memory).sort(), ['cache', 'kernel', 'kernelTCP', 'raw', 'swap', 'usage'].filter((k) => k !== 'cache' || s.memory.cache));
  assert.deepEqual(Object.keys(s.memory.usage).sort(), ['failcnt', 'limit', 'max', 'usage']);
  assert.deepEqual(s.memory.kernel, { limit: 0, failcnt: 0 });
  assert.deepEqual(Object.keys(s.hugetlb).sort(), ['1GB', '2MB']);
  assert.deepEqual(s.hugetlb['2MB'], { failcnt: 0 });
  assert.deepEqual([s.intel_rdt, s.network_interfaces], [{}, null]);

  // The CLI: one line, {"type":"stats","id":...,"data":...}, the same shape.
  const line = execFileSync(process.execPath, [path.join(ROOT, 'bin', 'tsbox'), '--root', stateRoot, 'events', '--stats', c.id], { encoding: 'utf8' });
  assert.equal(line.split('\n').length, 2, line);
  const e = JSON.parse(line);
  assert.deepEqual([e.type, e.id], ['stats', c.id]);
  assert.deepEqual(shape(e.data), shape(s));
  assert.deepEqual([e.data.memory.usage.limit, e.data.pids.limit, e.data.memory.swap.limit], [64 * MiB, 20, 96 * MiB]);
  assert.ok(e.data.cpu.throttling.throttledPeriods >= s.cpu.throttling.throttledPeriods);
});

check('events on cgroup2 (Runtime.events and `tsbox events`): stats every interval, then {"type":"oom"} when a hog is OOM-killed under memory.max (inotify on memory.events); the container lives on', async () => {
  const name = unique();
  const { out, mounts } = outDir();
  // The hog is a child shell (the biggest process, so the one killed); the init waits for the go.
  fs.writeFileSync(path.join(out, 'hog.sh'), 'x=a; while :; do x=$x$x; done\n');
  const c = await started(['sh', '-c', 'while [ ! -e /out/go ]; do sleep 0.05; done; sh /out/hog.sh; echo $? > /out/status; exec sleep 1000'], name, { memory: { limit: 16 * MiB, swap: 16 * MiB } }, { mounts });
  const events = rt.events(c.id, { interval: 300 });
  // The CLI's stream too: one JSON line per event.
  const cli = spawn(process.execPath, [path.join(ROOT, 'bin', 'tsbox'), '--root', stateRoot, 'events', '--interval', '300ms', c.id], { stdio: ['ignore', 'pipe', 'inherit'] });
  let cliOut = '';
  cli.stdout.setEncoding('utf8').on('data', (d) => (cliOut += d));
  const cliLines = () => cliOut.split('\n').slice(0, -1).map((l) => JSON.parse(l));
  try {
    // The first stats event: the OOM watch is set up by then (the CLI's too).
    const first = await within(20000, 'the first stats event', events.next());
    assert.equal(first.value.type, 'stats');
    assert.equal(first.value.data.memory.usage.limit, 16 * MiB);
    await waitUntil('the CLI\'s first stats line', () => cliLines().some((e) => e.type === 'stats'));
    fs.writeFileSync(path.join(out, 'go'), '');
    const types = [];
    for (;;) {
      const e = await within(30000, `an oom event (got ${types.join(' ')})`, events.next());
      assert.equal(e.done, false);
      types.push(e.value.type);
      if (e.value.type === 'oom') {
        assert.deepEqual(e.value, { type: 'oom', id: c.id });
        break;
      }
      assert.equal(e.value.type, 'stats');
    }
    await waitUntil('the CLI\'s oom line', () => cliLines().some((e) => e.type === 'oom'));
    assert.deepEqual(cliLines().find((e) => e.type === 'oom'), { type: 'oom', id: c.id });
    assert.deepEqual(cliLines().find((e) => e.type === 'stats').data.memory.usage.limit, 16 * MiB);
  } finally {
    await events.return();
    cli.kill('SIGKILL');
  }
  assert.equal(counters(c.cg, 'memory.events').oom_kill, 1);
  await waitUntil('the hog\'s status', () => fs.existsSync(path.join(out, 'status')) && read(out, 'status') !== '');
  assert.equal(read(out, 'status'), '137');
  assert.equal(rt.state(c.id).status, 'running');
});

check('blockIO on a disk (vda): io.max holds rbps/wbps/riops/wiops; reads of /dev/vda inside are throttled until update raises rbps; io.stat in stats; weightDevice needs BFQ', async () => {
  if (!fs.existsSync('/sys/block/vda')) throw new Error('no /dev/vda here: scripts/v2-tests.js gives the VM a null-co disk (test/v2/vm.js, nullDisk)');
  const [major, minor] = read('/sys/block/vda', 'dev').split(':').map(Number);
  const dev = { major, minor };
  const name = unique();
  const c = await started(['sleep', '1000'], name, {
    // A node in linux.devices gets only what the rules give it (as with runc).
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'b', ...dev, access: 'r' }],
    blockIO: {
      weightDevice: [{ ...dev, weight: 300 }],
      throttleReadBpsDevice: [{ ...dev, rate: MiB }],
      throttleWriteBpsDevice: [{ ...dev, rate: 2 * MiB }],
      throttleReadIOPSDevice: [{ ...dev, rate: 1000 }],
      throttleWriteIOPSDevice: [{ ...dev, rate: 500 }, { ...dev, rate: 0 }],
    },
  }, { linux: { devices: [{ path: '/dev/vda', type: 'b', ...dev, fileMode: 0o600 }] } });
  assert.equal(read(c.cg, 'io.max'), `${major}:${minor} rbps=${MiB} wbps=${2 * MiB} riops=1000 wiops=500`);
  if (fs.existsSync(path.join(c.cg, 'io.bfq.weight'))) assert.match(read(c.cg, 'io.bfq.weight'), new RegExp(`^${major}:${minor} 300$`, 'm'));
  else assert.doesNotMatch(read(c.cg, 'io.weight'), new RegExp(`^${major}:${minor} `, 'm'));

  // 2 MiB at 1 MiB/s, from 100 MiB in (nothing there is in the page cache).
  const dd = (skip) => execIn(c.id, ['dd', 'if=/dev/vda', 'of=/dev/null', 'bs=64k', 'count=32', `skip=${skip}`]);
  const slow = await dd(1600);
  assert.equal(slow.status, 0);
  assert.ok(slow.ms >= 1500, `2 MiB read in ${slow.ms} ms at 1 MiB/s`);
  const rbytes = () => Number(/\brbytes=(\d+)/.exec(read(c.cg, 'io.stat').split('\n').find((l) => l.startsWith(`${major}:${minor} `)) ?? '')?.[1] ?? 0);
  assert.ok(rbytes() >= 2 * MiB, `io.stat rbytes ${rbytes()}`);
  const s = await rt.stats(c.id);
  // runc omits zero fields of an entry (minor 0 too).
  const entry = (table) => (s.blkio[table] ?? []).find((e) => e.major === major && (e.minor ?? 0) === minor && e.op === 'Read');
  assert.ok(entry('ioServiceBytesRecursive')?.value >= 2 * MiB, JSON.stringify(s.blkio));
  assert.ok(entry('ioServicedRecursive')?.value > 0, JSON.stringify(s.blkio));
  if (minor === 0) assert.equal('minor' in entry('ioServicedRecursive'), false);

  await rt.update(c.id, { blockIO: { throttleReadBpsDevice: [{ ...dev, rate: 1024 * MiB }] } });
  assert.equal(read(c.cg, 'io.max'), `${major}:${minor} rbps=${1024 * MiB} wbps=${2 * MiB} riops=1000 wiops=500`);
  const fast = await dd(3200);
  assert.equal(fast.status, 0);
  assert.ok(fast.ms < slow.ms / 2, `after the update: ${fast.ms} ms, before ${slow.ms} ms`);
  console.log(`V2INFO dd of 2 MiB: ${slow.ms} ms at rbps=1MiB, ${fast.ms} ms at rbps=1GiB`);
});

check('cgroup2 conversions: swap - limit -> memory.swap.max, reservation -> memory.low, cpu.max.burst, cpu.idle, hugetlb.2MB.max, unified; update changes each and keeps the rest', async () => {
  const name = unique();
  const c = await started(['sleep', '1000'], name, {
    memory: { limit: 32 * MiB, swap: 48 * MiB, reservation: 8 * MiB },
    cpu: { quota: 50000, period: 100000, burst: 10000, idle: 1 },
    hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
    unified: { 'memory.high': String(24 * MiB), 'pids.max': '30' },
  });
  const files = () =>
    Object.fromEntries(
      ['memory.max', 'memory.swap.max', 'memory.low', 'memory.high', 'cpu.max', 'cpu.max.burst', 'cpu.idle', 'hugetlb.2MB.max', 'hugetlb.2MB.rsvd.max', 'pids.max'].map((f) => [f, read(c.cg, f)]),
    );
  assert.deepEqual(files(), {
    'memory.max': String(32 * MiB),
    'memory.swap.max': String(16 * MiB),
    'memory.low': String(8 * MiB),
    'memory.high': String(24 * MiB),
    'cpu.max': '50000 100000',
    'cpu.max.burst': '10000',
    'cpu.idle': '1',
    'hugetlb.2MB.max': String(4 * MiB),
    'hugetlb.2MB.rsvd.max': String(4 * MiB),
    'pids.max': '30',
  });
  // The swap alone: worked out against the memory limit in force.
  await rt.update(c.id, {
    memory: { swap: 40 * MiB, reservation: 4 * MiB },
    cpu: { burst: 20000, idle: 0 },
    hugepageLimits: [{ pageSize: '2MB', limit: 2 * MiB }],
    unified: { 'memory.high': String(20 * MiB) },
  });
  assert.deepEqual(files(), {
    'memory.max': String(32 * MiB),
    'memory.swap.max': String(8 * MiB),
    'memory.low': String(4 * MiB),
    'memory.high': String(20 * MiB),
    'cpu.max': '50000 100000',
    'cpu.max.burst': '20000',
    'cpu.idle': '0',
    'hugetlb.2MB.max': String(2 * MiB),
    'hugetlb.2MB.rsvd.max': String(2 * MiB),
    'pids.max': '30',
  });
  // A quota lowered below the burst in force, with a burst that fits it (the burst goes first).
  await rt.update(c.id, { cpu: { quota: 10000, burst: 5000 } });
  assert.deepEqual([read(c.cg, 'cpu.max'), read(c.cg, 'cpu.max.burst')], ['10000 100000', '5000']);
  // Limit and swap together, swap equal to the limit: no swap; -1 is "max".
  await rt.update(c.id, { memory: { limit: 64 * MiB, swap: 64 * MiB }, cpu: { quota: -1 } });
  assert.deepEqual([read(c.cg, 'memory.max'), read(c.cg, 'memory.swap.max'), read(c.cg, 'cpu.max')], [String(64 * MiB), '0', 'max 100000']);
  await rt.update(c.id, { memory: { limit: -1 } });
  assert.deepEqual([read(c.cg, 'memory.max'), read(c.cg, 'memory.swap.max')], ['max', 'max']);
});

// ---- main -----------------------------------------------------------------------------------

async function main() {
  const resultsFile = process.argv[2];
  if (!fs.existsSync(path.join(CG, 'cgroup.controllers')) || fs.existsSync(path.join(CG, 'memory', 'memory.limit_in_bytes'))) {
    throw new Error('not a pure cgroup2 host (cgroup2 at /sys/fs/cgroup)');
  }
  lib = require(path.join(ROOT, 'dist', 'index.js'));
  native = require(path.join(ROOT, 'dist', 'native', 'binding.js')).native();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2-'));
  stateRoot = path.join(tmp, 'state');
  rt = new lib.Runtime({ root: stateRoot });
  const only = process.env.V2_ONLY;
  const results = [];
  const report = (r) => {
    results.push(r);
    console.log(`V2RESULT ${JSON.stringify(r)}`);
  };
  for (const c of checks) {
    if (only && !c.name.includes(only)) continue;
    await runCheck(c.name, c.fn, report);
    await cleanUp();
    const left = fs.readdirSync(CG).filter((d) => d.startsWith(`tsbox-v2-${process.pid}-`));
    if (left.length > 0) report({ name: `${c.name}: clean-up`, ok: false, error: `left: ${left.join(', ')}` });
    if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return results.every((r) => r.ok) ? 0 : 1;
}

module.exports = { checks: checks.map((c) => c.name) };

if (require.main === module) runAsScript(main, 'v2 checks');
