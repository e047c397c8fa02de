'use strict';
// Checkpoint and restore through CRIU, run inside the pure cgroup v2 VM
// (test/v2/vm.js, kernel 6.1, where `criu check` passes with the modules
// its initramfs loads; on the project's hosts, kernel 6.18, Debian's CRIU
// 3.17 cannot run: test/integration/checkpoint.test.ts). Driven through
// tsbox's command line, as engines call it, on real containers: a counter
// (busybox sh writing an increasing number to its rootfs, a tmpfs, a bind
// mount and its stdout) is checkpointed, its processes gone, restored, and
// resumes from where it was, with its files, mounts and cgroup limits.
//
//   node test/v2/criu-checks.js [RESULTS.json]   (root, in the VM)
//
// Prints "V2RESULT {json}" per check (with "suite":"criu"), as checks.js
// does; V2_ONLY=TEXT runs the checks whose names contain TEXT. Where criu
// is not installed, prints why and runs none. Every container, cgroup and
// directory is made under a unique name and removed afterwards.

const assert = require('node:assert/strict');
const { execFileSync, spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { busyboxBundle } = require('./bundle');
const { runAsScript, runCheck } = require('./run-checks');

const ROOT = path.resolve(__dirname, '..', '..');
const TSBOX = path.join(ROOT, 'bin', 'tsbox');
const CG = '/sys/fs/cgroup';
const MiB = 1024 * 1024;

const checks = [];
const check = (name, fn) => checks.push({ name, fn });

let tmp;
let stateRoot;
let serial = 0;
/** Ids made by the current check, removed (delete --force) after it. */
let ids = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitUntil(what, fn, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const alive = (pid) => {
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};

/**
 * `tsbox --root STATE ...args`; its stdout and stderr go to files (a
 * restored container keeps the stdio it is given: a pipe would never
 * close). Returns the status and both texts; throws on a failure unless
 * `mayFail`.
 */
function tsbox(args, { mayFail = false, stdout } = {}) {
  const n = ++serial;
  const out = stdout ?? path.join(tmp, `out-${n}`);
  const err = path.join(tmp, `err-${n}`);
  const fds = [fs.openSync(out, 'a'), fs.openSync(err, 'w')];
  let r;
  try {
    r = spawnSync(process.execPath, [TSBOX, '--root', stateRoot, ...args], { stdio: ['ignore', fds[0], fds[1]], cwd: tmp, timeout: 120000 });
  } finally {
    for (const fd of fds) fs.closeSync(fd);
  }
  const res = { status: r.status, stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(err, 'utf8') };
  if (!mayFail && res.status !== 0) throw new Error(`tsbox ${args.join(' ')}: status ${res.status}: ${res.stderr}`);
  return res;
}

const state = (id) => JSON.parse(tsbox(['state', id]).stdout);
const unique = (what) => {
  const id = `tsbox-v2cr-${process.pid}-${++serial}-${what}`;
  ids.push(id);
  return id;
};

/**
 * A counter container: every 100 ms the next number goes to /count (its
 * rootfs), /scratch/count (a tmpfs), /out/count (a bind mount of a host
 * directory) and its stdout; it exits 7 once /stop exists. Limited to
 * 64 MiB and 40 processes. Runs detached with its stdout in `stdout`.
 */
function counter(name, { run = true } = {}) {
  const id = unique(name);
  const dir = path.join(tmp, `b-${id}`);
  const out = path.join(tmp, `vol-${id}`);
  fs.mkdirSync(out, { recursive: true });
  // A SIGTERM ends it with 9 (as pid 1 of its namespace it would ignore one it has no handler for).
  const script = 'trap "exit 9" TERM; i=0; while [ ! -e /stop ]; do i=$((i+1)); echo $i > /count; echo $i > /scratch/count; echo $i > /out/count; echo $i; sleep 0.1; done; exit 7';
  busyboxBundle(dir, ['sh', '-c', script], {
    linux: { cgroupsPath: `/${id}`, resources: { memory: { limit: 64 * MiB }, pids: { limit: 40 } } },
    mounts: [
      { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/out', type: 'bind', source: out, options: ['rbind', 'rw'] },
    ],
  });
  const rootfs = path.join(dir, 'rootfs');
  const stdout = path.join(tmp, `stdout-${id}`);
  if (run) tsbox(['run', '--detach', '--bundle', dir, id], { stdout });
  const num = (file) => {
    try {
      return Number(fs.readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      return 0;
    }
  };
  return {
    id,
    dir,
    rootfs,
    cg: path.join(CG, id),
    count: () => num(path.join(rootfs, 'count')),
    outCount: () => num(path.join(out, 'count')),
    lastLine: (file) => Number(fs.readFileSync(file, 'utf8').trim().split('\n').pop()),
    stdout,
  };
}

/** The number stays where it is for a while: nothing counts any more. */
async function frozen(what, read) {
  const a = read();
  await sleep(600);
  assert.equal(read(), a, `${what} went on counting`);
  return a;
}

// ---- checks --------------------------------------------------------------------------------

check('criu check passes in the VM (kernel 6.1 with the socket diag, nf_tables, tun, veth modules)', async () => {
  const r = spawnSync('criu', ['check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `criu check: ${r.stdout}${r.stderr} (VM artifacts older than the criu modules? run node test/v2/vm.js setup)`);
});

check('checkpoint stops and removes the counter; restore resumes it where it was, with its files, tmpfs, bind mount, stdio and cgroup limits; exec, ps, kill, delete work on it', async () => {
  const c = counter('counter');
  await waitUntil('the counter to reach 5', () => c.count() >= 5);
  const before = state(c.id);
  const images = path.join(tmp, `img-${c.id}`);
  const t0 = Date.now();
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const checkpointMs = Date.now() - t0;
  // Gone: the process, the container's record and its cgroup; the count stays.
  assert.equal(alive(before.pid), false, 'the checkpointed init still runs');
  assert.equal(tsbox(['state', c.id], { mayFail: true }).stderr, `tsbox: container "${c.id}" does not exist\n`);
  assert.equal(fs.existsSync(c.cg), false, 'the cgroup is still there');
  assert.ok(fs.existsSync(path.join(images, 'inventory.img')), 'no images');
  const saved = await frozen('the checkpointed counter', c.count);
  const savedTmpfs = saved; // written in the same turn of the loop
  // Restored with new stdio: its stdout goes to this file from now on.
  const stdout2 = path.join(tmp, `stdout2-${c.id}`);
  const t1 = Date.now();
  tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, '--pid-file', path.join(tmp, `pid-${c.id}`), c.id], { stdout: stdout2 });
  console.log(`V2INFO criu: tsbox checkpoint ${checkpointMs} ms, restore ${Date.now() - t1} ms (wall, in the VM: ~14x slower than the host)`);
  const after = state(c.id);
  assert.equal(after.status, 'running');
  assert.notEqual(after.pid, before.pid);
  assert.equal(Number(fs.readFileSync(path.join(tmp, `pid-${c.id}`), 'utf8')), after.pid, 'the pid file');
  // It goes on from the number it had, not from 1.
  await waitUntil('the restored counter to count', () => c.count() > saved + 2);
  // The dump may come between the loop's file writes and its echo: the
  // old stdout's last number, not the file's, is the one to follow.
  const lastOut = c.lastLine(c.stdout);
  const outLines = fs.readFileSync(stdout2, 'utf8').trim().split('\n').map(Number);
  assert.ok(lastOut === saved || lastOut === saved - 1, `the old stdout's last number (${lastOut}) is the count's (${saved}) or the one before`);
  assert.equal(outLines[0], lastOut + 1, `the restored counter's first number on its new stdout (${outLines.slice(0, 3)}) follows ${lastOut}`);
  assert.ok(c.outCount() > saved, 'the bind mount /out is the host directory again');
  // Inside: the tmpfs came back with its content, and the process is pid 1 of its namespace.
  const execOut = (...args) => tsbox(['exec', c.id, ...args]).stdout.trim();
  assert.ok(Number(execOut('cat', '/scratch/count')) > savedTmpfs, 'tmpfs /scratch holds the count');
  assert.match(execOut('cat', '/proc/1/cmdline'), /^sh\0-c\0trap /, 'pid 1 in the container is the counter');
  assert.equal(execOut('grep', '-c', ' /scratch tmpfs ', '/proc/mounts'), '1', 'one tmpfs at /scratch');
  // Outside: the init is in the container's cgroup, with its limits.
  assert.equal(fs.readFileSync(`/proc/${after.pid}/cgroup`, 'utf8').trim(), `0::/${c.id}`);
  assert.equal(fs.readFileSync(path.join(c.cg, 'memory.max'), 'utf8').trim(), String(64 * MiB));
  assert.equal(fs.readFileSync(path.join(c.cg, 'pids.max'), 'utf8').trim(), '40');
  const ps = JSON.parse(tsbox(['ps', '--format', 'json', c.id]).stdout);
  assert.ok(ps.includes(after.pid), `ps lists the init (${ps})`);
  tsbox(['pause', c.id]);
  assert.equal(state(c.id).status, 'paused');
  const paused = await frozen('the paused counter', c.count);
  tsbox(['resume', c.id]);
  await waitUntil('the resumed counter to count', () => c.count() > paused);
  tsbox(['kill', c.id, 'KILL']);
  await waitUntil('the restored init to die', () => !alive(after.pid));
  assert.equal(state(c.id).status, 'stopped');
  tsbox(['delete', c.id]);
  assert.equal(fs.existsSync(c.cg), false, 'delete left the cgroup');
  assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, 'delete left the state');
});

check('checkpoint --leave-running: the counter runs on (same pid, same cgroup), and the images restore as another container', async () => {
  const c = counter('leave');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const before = state(c.id);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--leave-running', '--image-path', images, c.id]);
  assert.equal(state(c.id).status, 'running');
  assert.equal(state(c.id).pid, before.pid);
  const n = c.count();
  await waitUntil('the counter to go on', () => c.count() > n + 2);
  assert.ok(fs.existsSync(path.join(images, 'inventory.img')), 'no images');
  // Stopped and removed, then restored from the images under the same id.
  tsbox(['delete', '--force', c.id]);
  tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id]);
  assert.equal(state(c.id).status, 'running');
  tsbox(['delete', '--force', c.id]);
  assert.equal(fs.existsSync(c.cg), false, 'delete left the cgroup');
});

check('restore without --detach waits for the container and exits with its status (7), then removes it', async () => {
  const c = counter('wait');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const errFile = path.join(tmp, `restore-err-${c.id}`);
  const errFd = fs.openSync(errFile, 'w');
  // stdout a file, as it was at the checkpoint: CRIU checks that what
  // takes a file's place is a file of the same mode.
  const outFd = fs.openSync(path.join(tmp, `stdout2-${c.id}`), 'w');
  const child = spawn(process.execPath, [TSBOX, '--root', stateRoot, 'restore', '--bundle', c.dir, '--image-path', images, c.id], { stdio: ['ignore', outFd, errFd], cwd: tmp });
  fs.closeSync(errFd);
  fs.closeSync(outFd);
  let done;
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((done = { code, signal }))));
  const saved = c.count();
  await waitUntil('the restored counter to count', () => {
    if (done) throw new Error(`restore exited early (${JSON.stringify(done)}): ${fs.readFileSync(errFile, 'utf8')}`);
    return c.count() > saved;
  });
  fs.writeFileSync(path.join(c.rootfs, 'stop'), '');
  const { code } = await exited;
  assert.equal(code, 7, fs.readFileSync(errFile, 'utf8'));
  assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, 'the state is left');
  assert.equal(fs.existsSync(c.cg), false, 'the cgroup is left');
});

/** The pid of a criu process whose parent is `ppid`, or undefined. */
function criuChildOf(ppid) {
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(stat);
      if (m && m[1] === 'criu' && Number(m[2]) === ppid) return Number(d);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

check('restore without --detach passes a SIGTERM sent to tsbox on to the restored init (one sent while CRIU restores, too): tsbox exits with its status (9) and removes the container', async () => {
  const c = counter('signal');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const saved = await frozen('the checkpointed counter', c.count);
  for (const when of ['while criu restores', 'once it counts']) {
    const errFile = path.join(tmp, `restore-err-${c.id}`);
    const errFd = fs.openSync(errFile, 'w');
    // The restored counter's stdout: it writes there once it runs (the
    // count in the rootfs may have gone on in the first round).
    const outFile = path.join(tmp, `stdout2-${c.id}`);
    const outFd = fs.openSync(outFile, 'w');
    const child = spawn(process.execPath, [TSBOX, '--root', stateRoot, 'restore', '--bundle', c.dir, '--image-path', images, c.id], { stdio: ['ignore', outFd, errFd], cwd: tmp });
    fs.closeSync(errFd);
    fs.closeSync(outFd);
    let done;
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((done = { code, signal }))));
    const early = () => {
      if (done) throw new Error(`restore exited early (${JSON.stringify(done)}): ${fs.readFileSync(errFile, 'utf8')}`);
    };
    if (when === 'while criu restores') {
      await waitUntil('criu to run', () => early() || criuChildOf(child.pid) !== undefined || (fs.statSync(outFile).size > 0 && 'late'));
      assert.equal(fs.statSync(outFile).size, 0, 'the counter counted before criu was seen: the signal would not come early');
    } else {
      await waitUntil('the restored counter to count', () => early() || fs.statSync(outFile).size > 0);
    }
    child.kill('SIGTERM');
    const status = await exited;
    assert.deepEqual(status, { code: 9, signal: null }, `${when}: ${fs.readFileSync(errFile, 'utf8')}`);
    assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, `${when}: the state is left`);
    assert.equal(fs.existsSync(c.cg), false, `${when}: the cgroup is left`);
  }
});

check('hooks at restore, as runc: prestart and createRuntime once CRIU made the namespaces (the restored pid, before it runs on), poststart after, poststop at delete; a failing prestart hook fails the restore in one line and leaves nothing', async () => {
  const c = counter('hooks');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const saved = await frozen('the checkpointed counter', c.count);
  const seen = path.join(tmp, `hooks-${c.id}`);
  fs.mkdirSync(seen);
  // Each hook records the state it was given, the pid's pid namespace, and the count then.
  const record = [
    'const fs = require("fs"); const [phase, dir, countFile] = process.argv.slice(1);',
    'const state = JSON.parse(fs.readFileSync(0, "utf8")); let ns = null; try { ns = fs.readlinkSync(`/proc/${state.pid}/ns/pid`); } catch {}',
    'let count = null; try { count = Number(fs.readFileSync(countFile, "utf8")); } catch {}',
    'fs.appendFileSync(`${dir}/order`, phase + "\\n"); fs.writeFileSync(`${dir}/${phase}.json`, JSON.stringify({ state, ns, count }));',
  ].join('\n');
  const hook = (phase) => ({ path: process.execPath, args: ['node', '-e', record, phase, seen, path.join(c.rootfs, 'count')] });
  const config = JSON.parse(fs.readFileSync(path.join(c.dir, 'config.json'), 'utf8'));
  const withHooks = (hooks) => fs.writeFileSync(path.join(c.dir, 'config.json'), JSON.stringify({ ...config, hooks }));
  // First a prestart hook that fails.
  withHooks({ prestart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] });
  const r = tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id], { mayFail: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^tsbox: restore container "${c.id}": [^\\n]*prestart[^\\n]*\\n$`));
  assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, 'the state is left');
  assert.equal(fs.existsSync(c.cg), false, 'the cgroup is left');
  await sleep(500);
  assert.equal(c.count(), saved, 'something counts after the failed restore');
  withHooks({ prestart: [hook('prestart')], createRuntime: [hook('createRuntime')], poststart: [hook('poststart')], poststop: [hook('poststop')] });
  tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id]);
  const { pid } = state(c.id);
  const got = (phase) => JSON.parse(fs.readFileSync(path.join(seen, `${phase}.json`), 'utf8'));
  const hostPidNs = fs.readlinkSync('/proc/self/ns/pid');
  for (const phase of ['prestart', 'createRuntime']) {
    const h = got(phase);
    assert.equal(h.state.pid, pid, `${phase}: the restored init's pid`);
    assert.equal(h.state.id, c.id);
    assert.equal(h.state.bundle, c.dir);
    assert.equal(h.state.status, 'creating', phase);
    assert.ok(h.ns && h.ns !== hostPidNs, `${phase}: the pid is in a pid namespace of its own (${h.ns})`);
    assert.equal(h.count, saved, `${phase}: the counter has not run on yet`);
  }
  const post = got('poststart');
  assert.equal(post.state.pid, pid);
  assert.equal(post.state.status, 'running');
  await waitUntil('the restored counter to count', () => c.count() > saved);
  assert.equal(fs.readFileSync(path.join(seen, 'order'), 'utf8'), 'prestart\ncreateRuntime\npoststart\n');
  tsbox(['delete', '--force', c.id]);
  assert.equal(fs.readFileSync(path.join(seen, 'order'), 'utf8'), 'prestart\ncreateRuntime\npoststart\npoststop\n');
  assert.equal(got('poststop').state.status, 'stopped');
  assert.equal(got('poststop').state.pid, pid);
});

check('hooks at restore with the state on a noexec mount (as /run often is): the hooks run on CRIU\'s notification, and nothing is left in the state root or the temporary directory (the restore\'s CRIU configuration file)', async () => {
  const c = counter('noexec');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const saved = await frozen('the checkpointed counter', c.count);
  const root = path.join(tmp, `noexec-${c.id}`);
  fs.mkdirSync(root);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'noexec,mode=700', 'tmpfs', root]).status, 0, 'mount a noexec tmpfs');
  try {
    const seen = path.join(tmp, `seen-${c.id}`);
    const config = JSON.parse(fs.readFileSync(path.join(c.dir, 'config.json'), 'utf8'));
    config.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${seen}`] }] };
    fs.writeFileSync(path.join(c.dir, 'config.json'), JSON.stringify(config));
    // stdout a file, as it was at the checkpoint (CRIU checks the kind).
    const errFile = path.join(tmp, `stderr2-${c.id}`);
    const fds = [fs.openSync(path.join(tmp, `stdout2-${c.id}`), 'w'), fs.openSync(errFile, 'w')];
    const r = spawnSync(process.execPath, [TSBOX, '--root', root, 'restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id], { stdio: ['ignore', ...fds], cwd: tmp, timeout: 120000 });
    for (const fd of fds) fs.closeSync(fd);
    r.stderr = fs.readFileSync(errFile, 'utf8');
    try {
      assert.equal(r.status, 0, r.stderr);
      const { pid } = JSON.parse(spawnSync(process.execPath, [TSBOX, '--root', root, 'state', c.id], { encoding: 'utf8' }).stdout);
      assert.equal(JSON.parse(fs.readFileSync(seen, 'utf8')).pid, pid, 'the prestart hook saw the restored pid');
      await waitUntil('the restored counter to count', () => c.count() > saved);
    } finally {
      spawnSync(process.execPath, [TSBOX, '--root', root, 'delete', '--force', c.id]);
    }
    assert.deepEqual(fs.readdirSync(root), [], 'the state root is left with something');
    assert.deepEqual(fs.readdirSync(os.tmpdir()).filter((d) => d.startsWith('tsbox-criu-')), [], 'a temporary directory is left');
  } finally {
    spawnSync('umount', [root]);
  }
});

check('checkpoint --pre-dump then a dump with --parent-path: the container runs after the pre-dump, and the dump restores', async () => {
  const c = counter('predump');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const pre = path.join(tmp, `pre-${c.id}`);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--pre-dump', '--image-path', pre, c.id]);
  assert.equal(state(c.id).status, 'running');
  tsbox(['checkpoint', '--image-path', images, '--parent-path', path.relative(images, pre), c.id]);
  const saved = await frozen('the checkpointed counter', c.count);
  tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id]);
  await waitUntil('the restored counter to count', () => c.count() > saved);
  tsbox(['delete', '--force', c.id]);
});

check('a dump CRIU refuses (a parent path with no images) fails in one line, leaves no images, and the container runs on', async () => {
  const c = counter('refused');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const pid = state(c.id).pid;
  const images = path.join(tmp, `img-${c.id}`);
  const r = tsbox(['checkpoint', '--image-path', images, '--parent-path', '../no-such-dump', c.id], { mayFail: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^tsbox: checkpoint container "${c.id}": criu dump: [^\\n]+\\n$`));
  assert.equal(fs.existsSync(images), false, 'the image directory is left');
  assert.equal(state(c.id).status, 'running');
  assert.equal(state(c.id).pid, pid);
  const n = c.count();
  await waitUntil('the counter to go on', () => c.count() > n);
});

check('a restore CRIU refuses (the bind mount\'s source is gone) fails in one line and leaves no container, cgroup or process; the images restore once it is back', async () => {
  const c = counter('badrestore');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--image-path', images, c.id]);
  const vol = path.join(tmp, `vol-${c.id}`);
  fs.renameSync(vol, `${vol}.away`);
  const r = tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id], { mayFail: true });
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^tsbox: restore container "${c.id}": criu restore: [^\\n]+\\n$`));
  assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, 'the state is left');
  assert.equal(fs.existsSync(c.cg), false, 'the cgroup is left');
  const saved = c.count();
  await sleep(500);
  assert.equal(c.count(), saved, 'something counts');
  fs.renameSync(`${vol}.away`, vol);
  tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id]);
  await waitUntil('the restored counter to count', () => c.count() > saved);
  tsbox(['delete', '--force', c.id]);
});

/** Runs `command` (sh) under script(1), on a new pty; resolves when it exits, with what the pty showed. */
function onPty(command, typescript) {
  const child = spawn('script', ['-qec', command, typescript], { stdio: 'ignore', cwd: tmp });
  return new Promise((resolve) => child.on('exit', () => resolve(fs.readFileSync(typescript, 'utf8'))));
}

check('checkpoint --shell-job of a counter on a terminal (its stdio a pty from outside): restored --shell-job on another terminal, it goes on writing there', async () => {
  const c = counter('tty', { run: false });
  const q = (x) => `'${x}'`;
  const ts = (n) => path.join(tmp, `typescript${n}-${c.id}`);
  // The first terminal stays open while the checkpoint is taken.
  const first = onPty(`${q(process.execPath)} ${q(TSBOX)} --root ${q(stateRoot)} run -d --bundle ${q(c.dir)} ${c.id} && sleep 8`, ts(1));
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const { pid } = state(c.id);
  assert.match(fs.readlinkSync(`/proc/${pid}/fd/1`), /^\/dev\/pts\/\d+$/, 'the counter\'s stdout is a pty');
  const images = path.join(tmp, `img-${c.id}`);
  tsbox(['checkpoint', '--shell-job', '--image-path', images, c.id]);
  const saved = await frozen('the checkpointed counter', c.count);
  await first;
  const shown = await onPty(`${q(process.execPath)} ${q(TSBOX)} --root ${q(stateRoot)} restore -d --shell-job --bundle ${q(c.dir)} --image-path ${q(images)} ${c.id} && sleep 3`, ts(2));
  const numbers = shown.split(/\r?\n/).filter((l) => /^\d+$/.test(l)).map(Number);
  assert.ok(numbers.length >= 3, `the second terminal shows the counter: ${JSON.stringify(shown.slice(-300))}`);
  // The dump may come between the loop's file write and its echo: the
  // first number shown is then the count file's, else the one after.
  assert.ok(numbers[0] === saved || numbers[0] === saved + 1, `it goes on from ${saved}: ${numbers.slice(0, 5)}`);
  const after = state(c.id);
  assert.equal(after.status, 'running');
  assert.match(fs.readlinkSync(`/proc/${after.pid}/fd/1`), /^\/dev\/pts\/\d+/, 'the restored counter\'s stdout is a pty');
  tsbox(['delete', '--force', c.id]);
});

/** test/fixtures/recvtty.c, built (scripts/v2-tests.js builds it on the host: $TSBOX_RECVTTY), else here. */
function recvttyPath() {
  if (process.env.TSBOX_RECVTTY) return process.env.TSBOX_RECVTTY;
  const out = path.join(tmp, 'recvtty');
  if (!fs.existsSync(out)) execFileSync('gcc', ['-O2', '-o', out, path.join(ROOT, 'test', 'fixtures', 'recvtty.c')]);
  return out;
}

/**
 * The other end of --console-socket at `sock`: recvtty, which takes the
 * master and proxies it (what is written with type() goes in, what the
 * container's terminal shows is text()). Resolves once it listens.
 */
async function consoleReceiver(sock) {
  const child = spawn(recvttyPath(), [sock], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('latin1').on('data', (d) => (out += d));
  child.stderr.setEncoding('latin1').on('data', (d) => (err += d));
  const exited = new Promise((r) => child.on('exit', (code) => r(code)));
  await waitUntil(`recvtty to listen on ${sock}`, () => err.includes('listening') || (child.exitCode !== null && Promise.reject(new Error(`recvtty: ${err}`))));
  return {
    text: () => out,
    stderr: () => err,
    type: (line) => child.stdin.write(`${line}\n`),
    exited,
    stop: () => {
      child.stdin.end();
      child.kill('SIGKILL');
    },
  };
}

/** The numbers "nK" a counter printed on a terminal, in order. */
const shownNumbers = (text) => [...text.matchAll(/^n(\d+)\r?$/gm)].map((m) => Number(m[1]));

check('a container with a terminal of its own (process.terminal, --console-socket): checkpointed, restored with a new console socket, it counts on on the NEW master, reads a line typed into it, and its terminal is still the container\'s pts, the controlling one, on 0-2', async () => {
  const id = unique('terminal');
  const dir = path.join(tmp, `b-${id}`);
  // A counter in the background and, in front, a reader of lines typed
  // into the terminal, which answers with the line and the name of its terminal.
  const script = 'tty > /tty; i=0; ( while :; do i=$((i+1)); echo $i > /count; echo n$i; sleep 0.1; done ) & while read -r l; do echo "got:$l"; tty; done';
  busyboxBundle(dir, ['sh', '-c', script], {
    process: { terminal: true },
    linux: { cgroupsPath: `/${id}`, resources: { pids: { limit: 40 } } },
    mounts: [{ destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] }],
  });
  const rootfs = path.join(dir, 'rootfs');
  const count = () => Number(fs.readFileSync(path.join(rootfs, 'count'), 'utf8').trim() || 0);
  const first = await consoleReceiver(path.join(tmp, `console1-${id}`));
  const second = await consoleReceiver(path.join(tmp, `console2-${id}`));
  try {
    tsbox(['run', '--detach', '--console-socket', path.join(tmp, `console1-${id}`), '--bundle', dir, id]);
    await waitUntil('the counter to count on its terminal', () => fs.existsSync(path.join(rootfs, 'count')) && count() >= 3 && shownNumbers(first.text()).length >= 3);
    const ttyName = fs.readFileSync(path.join(rootfs, 'tty'), 'utf8').trim();
    assert.match(ttyName, /^\/dev\/pts\/\d+$/, 'the container\'s terminal');
    const images = path.join(tmp, `img-${id}`);
    tsbox(['checkpoint', '--image-path', images, id]);
    const saved = await frozen('the checkpointed counter', count);
    // The old master's reader sees the end of the terminal (EIO) and exits.
    assert.equal(await first.exited, 0, `the first receiver: ${first.stderr()}`);
    const lastOld = shownNumbers(first.text()).pop();
    // Restoring a terminal container needs somewhere to send the master, as create does.
    const refused = tsbox(['restore', '--detach', '--bundle', dir, '--image-path', images, id], { mayFail: true });
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr, 'tsbox: process.terminal needs --console-socket to restore a container (its terminal\'s new master has to go somewhere)\n');
    assert.equal(fs.existsSync(path.join(stateRoot, id)), false, 'the refused restore left its state');
    tsbox(['restore', '--detach', '--console-socket', path.join(tmp, `console2-${id}`), '--bundle', dir, '--image-path', images, id]);
    await waitUntil('the new master to come over the console socket', () => /received \/dev\/ptmx pty=\d+/.test(second.stderr()));
    await waitUntil('the restored counter to count on the new master', () => shownNumbers(second.text()).length >= 3);
    const numbers = shownNumbers(second.text());
    assert.ok(numbers[0] > 1 && numbers[0] <= saved + 1 && numbers[0] >= lastOld - 1, `it goes on from ${lastOld} (the old terminal's last, the count file's ${saved}): ${numbers.slice(0, 5)}`);
    numbers.slice(1, 4).forEach((n, i) => assert.equal(n, numbers[i] + 1, `counts one by one: ${numbers.slice(0, 5)}`));
    // Typed into the new master, read by the restored shell on its stdin.
    second.type('hello from the new master');
    await waitUntil('the restored shell to answer the typed line', () => new RegExp(`got:hello from the new master\\r?\\n${ttyName}\\r?$`, 'm').test(second.text()));
    // Outside: 0-2 are that pts, which is the session's controlling terminal (the init leads its session).
    const { pid } = state(id);
    for (const fd of [0, 1, 2]) assert.equal(fs.readlinkSync(`/proc/${pid}/fd/${fd}`), ttyName, `fd ${fd}`);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    const [session, ttyNr] = [Number(stat[3]), Number(stat[4])];
    assert.equal(session, pid, 'the restored init leads its session');
    const [major, minor] = tsbox(['exec', id, 'stat', '-c', '%t %T', ttyName]).stdout.trim().split(' ').map((h) => Number.parseInt(h, 16));
    assert.equal(ttyNr, (major << 8) | (minor & 0xff) | ((minor & ~0xff) << 12), `the controlling terminal (tty_nr ${ttyNr}) is ${ttyName} (${major}:${minor})`);
    tsbox(['delete', '--force', id]);
  } finally {
    first.stop();
    second.stop();
  }
});

check('a counter in a network namespace joined by path (a pod\'s, linux.namespaces[].path): checkpoint leaves it out, and restore puts the counter in the one the restore-time config names (its inode inside is that path\'s); a missing path fails in one line and leaves nothing', async () => {
  const c = counter('netns', { run: false });
  // Two network namespaces, each bound on a file of a private tmpfs (made
  // here, as ip netns does under /run/netns).
  const nsDir = path.join(tmp, `netns-${c.id}`);
  fs.mkdirSync(nsDir);
  assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'mode=700', 'tmpfs', nsDir]).status, 0, 'mount a tmpfs for the namespaces');
  spawnSync('mount', ['--make-private', nsDir]);
  const made = [];
  try {
    const netns = (name) => {
      const f = path.join(nsDir, name);
      fs.writeFileSync(f, '');
      const r = spawnSync('unshare', [`--net=${f}`, 'true'], { encoding: 'utf8' });
      assert.equal(r.status, 0, `unshare --net=${f}: ${r.stderr}`);
      made.push(f);
      return { file: f, ino: fs.statSync(f).ino };
    };
    const first = netns('first');
    const second = netns('second');
    assert.notEqual(first.ino, second.ino);
    const configFile = path.join(c.dir, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    const withNetns = (file) => fs.writeFileSync(configFile, JSON.stringify({ ...config, linux: { ...config.linux, namespaces: [...config.linux.namespaces, { type: 'network', path: file }] } }));
    const inside = () => Number(tsbox(['exec', c.id, 'stat', '-L', '-c', '%i', '/proc/1/ns/net']).stdout.trim());
    withNetns(first.file);
    tsbox(['run', '--detach', '--bundle', c.dir, c.id], { stdout: c.stdout });
    await waitUntil('the counter to reach 3', () => c.count() >= 3);
    assert.equal(inside(), first.ino, 'the counter runs in the first namespace');
    const images = path.join(tmp, `img-${c.id}`);
    tsbox(['checkpoint', '--image-path', images, c.id]);
    const saved = await frozen('the checkpointed counter', c.count);
    // The restore-time config names where it goes: first a path that is not there.
    withNetns(path.join(nsDir, 'gone'));
    const r = tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id], { mayFail: true });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `tsbox: restore container "${c.id}": linux.namespaces[4].path "${path.join(nsDir, 'gone')}": ENOENT\n`);
    assert.equal(fs.existsSync(path.join(stateRoot, c.id)), false, 'the state is left');
    assert.equal(fs.existsSync(c.cg), false, 'the cgroup is left');
    withNetns(second.file);
    tsbox(['restore', '--detach', '--bundle', c.dir, '--image-path', images, c.id], { stdout: path.join(tmp, `stdout2-${c.id}`) });
    await waitUntil('the restored counter to count', () => c.count() > saved + 2);
    assert.equal(inside(), second.ino, 'the restored counter is in the namespace of the restore-time config');
    const { pid } = state(c.id);
    assert.equal(fs.statSync(`/proc/${pid}/ns/net`).ino, second.ino, 'outside: the restored init\'s network namespace');
    tsbox(['delete', '--force', c.id]);
  } finally {
    for (const f of made) spawnSync('umount', [f]);
    spawnSync('umount', [nsDir]);
  }
});

check('checkpoint --lazy-pages --page-server: the dump serves the memory (--status-fd says when), CRIU\'s lazy-pages daemon takes it, and restore --lazy-pages (same --work-path) resumes the counter elsewhere from where it was; the checkpoint then ends and removes the container', async () => {
  const c = counter('lazy');
  await waitUntil('the counter to reach 3', () => c.count() >= 3);
  const images = path.join(tmp, `img-${c.id}`);
  const work = path.join(tmp, `work-${c.id}`);
  fs.mkdirSync(work);
  const port = 27000 + (process.pid % 1000);
  // The checkpoint blocks until the memory is taken: in the background, its descriptor 3 the status pipe.
  const errFile = path.join(tmp, `cp-err-${c.id}`);
  const errFd = fs.openSync(errFile, 'w');
  const cp = spawn(process.execPath, [TSBOX, '--root', stateRoot, 'checkpoint', '--lazy-pages', '--page-server', `127.0.0.1:${port}`, '--status-fd', '3', '--image-path', images, c.id], { stdio: ['ignore', 'ignore', errFd, 'pipe'], cwd: tmp });
  fs.closeSync(errFd);
  const cpExit = new Promise((r) => cp.on('exit', (code) => r(code)));
  let status = Buffer.alloc(0);
  cp.stdio[3].on('data', (d) => (status = Buffer.concat([status, d])));
  const statusClosed = new Promise((r) => cp.stdio[3].on('close', r));
  let lazy;
  try {
    await waitUntil('the lazy dump to serve its memory (a \\0 on --status-fd)', () => status.length > 0 || (cp.exitCode !== null && Promise.reject(new Error(`checkpoint exited ${cp.exitCode}: ${fs.readFileSync(errFile, 'utf8')}`))));
    assert.deepEqual([...status], [0]);
    await statusClosed;
    const saved = await frozen('the counter being served', c.count);
    // CRIU's lazy-pages daemon, as runc's users run it: it fetches the pages from the page server.
    lazy = spawn('criu', ['lazy-pages', '--page-server', '--address', '127.0.0.1', '--port', String(port), '--images-dir', images, '--work-dir', work, '-v4', '-o', 'lazy-pages.log'], { stdio: 'ignore' });
    const lazyExit = new Promise((r) => lazy.on('exit', (code) => r(code)));
    await waitUntil('the lazy-pages daemon\'s socket', () => fs.existsSync(path.join(work, 'lazy-pages.socket')));
    // The restore elsewhere: another id and cgroup (the checkpointed container is still there, frozen, until its memory is taken).
    const config = JSON.parse(fs.readFileSync(path.join(c.dir, 'config.json'), 'utf8'));
    const id2 = unique('lazy-restored');
    fs.writeFileSync(path.join(c.dir, 'config.json'), JSON.stringify({ ...config, linux: { ...config.linux, cgroupsPath: `/${id2}` } }));
    const stdout2 = path.join(tmp, `stdout2-${c.id}`);
    tsbox(['restore', '--detach', '--lazy-pages', '--bundle', c.dir, '--image-path', images, '--work-path', work, id2], { stdout: stdout2 });
    await waitUntil('the restored counter to count', () => c.count() > saved + 2);
    // The count comes from the restored shell's memory (its variable i), taken lazily.
    const lines = fs.readFileSync(stdout2, 'utf8').trim().split('\n').map(Number);
    assert.ok(lines[0] >= saved - 1 && lines[0] <= saved + 1, `it goes on from ${saved}: ${lines.slice(0, 3)}`);
    assert.equal(await lazyExit, 0, 'the lazy-pages daemon ends once it has every page');
    assert.equal(await cpExit, 0, `the checkpoint: ${fs.readFileSync(errFile, 'utf8')}`);
    assert.equal(tsbox(['state', c.id], { mayFail: true }).status, 1, 'the checkpointed container is gone');
    assert.equal(fs.existsSync(c.cg), false, 'its cgroup is gone');
    assert.equal(state(id2).status, 'running');
    tsbox(['delete', '--force', id2]);
  } finally {
    // criu serves the memory until it is taken: it goes first, then tsbox.
    const criu = criuChildOf(cp.pid);
    if (criu !== undefined) process.kill(criu, 'SIGKILL');
    if (cp.exitCode === null) cp.kill('SIGKILL');
    if (lazy && lazy.exitCode === null) lazy.kill('SIGKILL');
  }
});

/** Why podman cannot run here, or undefined. */
function podmanMissing() {
  for (const p of ['podman', 'conmon']) if (spawnSync(p, ['--version']).error) return `${p} is not installed`;
  return undefined;
}

check('podman container checkpoint / restore through tsbox (podman 4, conmon): the counter resumes where it was, in a network namespace of its own, with the config\'s masked paths', async () => {
  const why = podmanMissing();
  if (why) {
    console.log(`V2INFO podman checkpoint check SKIPPED: ${why}`);
    return;
  }
  // podman with all its state under tmp (vfs storage: the VM's root is an
  // overlay), tsbox as the runtime "tsbox", as the README configures it.
  const base = path.join(tmp, 'podman');
  const rootfs = path.join(base, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.mkdirSync(path.join(base, 'tmp'));
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'sleep', 'cat', 'echo']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const q = JSON.stringify;
  fs.writeFileSync(path.join(base, 'containers.conf'), [
    '[engine]', 'runtime_supports_json = ["tsbox"]', 'lock_type = "file"', `tmp_dir = ${q(path.join(base, 'libpod-tmp'))}`,
    'cgroup_manager = "cgroupfs"', 'events_logger = "none"', '[engine.runtimes]', `tsbox = [${q(TSBOX)}]`, '',
  ].join('\n'));
  fs.writeFileSync(path.join(base, 'storage.conf'), ['[storage]', 'driver = "vfs"', `graphroot = ${q(path.join(base, 'root'))}`, `runroot = ${q(path.join(base, 'runroot'))}`, ''].join('\n'));
  const env = { ...process.env, CONTAINERS_CONF: path.join(base, 'containers.conf'), CONTAINERS_STORAGE_CONF: path.join(base, 'storage.conf'), TMPDIR: path.join(base, 'tmp') };
  const podman = (...args) => {
    const r = spawnSync('podman', ['--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', 'tsbox', ...args], { env, encoding: 'utf8', timeout: 180000 });
    if (r.status !== 0) throw new Error(`podman ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
  };
  spawnSync('tar', ['-C', rootfs, '-cf', path.join(base, 'rootfs.tar'), '.']);
  podman('import', '--change', 'CMD ["/bin/sh"]', path.join(base, 'rootfs.tar'), 'localhost/tsbox-criu:latest');
  const name = `tsbox-v2cr-${process.pid}-podman`;
  try {
    // The token tells the restored process from a restarted one.
    podman('run', '-d', '--name', name, '--network', 'none', '--ulimit', 'nofile=20000:20000', 'localhost/tsbox-criu:latest',
      'sh', '-c', 't=$RANDOM$RANDOM; i=0; while :; do i=$((i+1)); echo "$t $i" > /count; sleep 0.1; done');
    const read = () => podman('exec', name, 'cat', '/count').split(' ').map(Number);
    await waitUntil('the counter to count', () => read()[1] >= 3);
    const id = podman('inspect', '--format', '{{.Id}}', name);
    podman('container', 'checkpoint', name);
    assert.equal(podman('inspect', '--format', '{{.State.Status}}', name), 'exited');
    const listed = spawnSync(process.execPath, [TSBOX, 'list', '--quiet'], { encoding: 'utf8' }).stdout;
    assert.ok(!listed.split('\n').includes(id), 'tsbox still lists the checkpointed container');
    const mountedRoot = podman('mount', name);
    const [token, saved] = fs.readFileSync(path.join(mountedRoot, 'count'), 'utf8').trim().split(' ').map(Number);
    podman('unmount', name);
    podman('container', 'restore', name);
    assert.equal(podman('inspect', '--format', '{{.State.Status}}', name), 'running');
    const [token2, now] = read();
    assert.equal(token2, token, 'the restored process is the one checkpointed (its token), not a new one');
    assert.ok(now > saved, `it counts on from ${saved} (${now})`);
    assert.equal(podman('exec', name, 'cat', '/proc/kcore').length, 0, 'a masked path (/proc/kcore) reads empty after the restore');
  } finally {
    spawnSync('podman', ['--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--runtime', 'tsbox', 'rm', '--force', '--time', '0', name], { env });
  }
});

check('ctr tasks checkpoint --exit through tsbox (containerd 1.6\'s runc shim, which pauses the task first): the images are written, the counter stops and the task is stopped', async () => {
  for (const p of ['containerd', 'ctr', 'containerd-shim-runc-v2']) {
    if (spawnSync(p, ['--version']).error && spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0) {
      console.log(`V2INFO ctr checkpoint check SKIPPED: ${p} is not installed`);
      return;
    }
  }
  const base = path.join(tmp, 'containerd');
  const rootfs = path.join(base, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  for (const a of ['sh', 'sleep', 'cat', 'echo']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  const sock = path.join(base, 'c.sock');
  fs.writeFileSync(path.join(base, 'config.toml'), [
    'version = 2', `root = ${JSON.stringify(path.join(base, 'root'))}`, `state = ${JSON.stringify(path.join(base, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]', '[grpc]', `  address = ${JSON.stringify(sock)}`, '[ttrpc]', `  address = ${JSON.stringify(`${sock}.ttrpc`)}`, '',
  ].join('\n'));
  const daemon = spawn('containerd', ['--config', path.join(base, 'config.toml')], { stdio: 'ignore' });
  const ctr = (...args) => {
    const r = spawnSync('ctr', ['--address', sock, ...args], { encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) throw new Error(`ctr ${args.join(' ')}: status ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const name = `tsbox-v2cr-${process.pid}-ctr`;
  try {
    await waitUntil('containerd to answer', () => spawnSync('ctr', ['--address', sock, 'version']).status === 0);
    ctr('run', '-d', '--runc-binary', TSBOX, '--runc-root', path.join(base, 'tsbox'), '--rootfs', rootfs, name,
      'sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.1; done');
    const count = () => Number(fs.readFileSync(path.join(rootfs, 'count'), 'utf8'));
    await waitUntil('the counter to count', () => fs.existsSync(path.join(rootfs, 'count')) && count() >= 3);
    const images = path.join(base, 'img');
    ctr('tasks', 'checkpoint', '--exit', '--image-path', images, '--work-path', path.join(base, 'work'), name);
    assert.ok(fs.existsSync(path.join(images, 'inventory.img')), 'no images');
    await frozen('the checkpointed counter', count);
    assert.match(ctr('tasks', 'ls'), new RegExp(`${name}\\s+\\d+\\s+STOPPED`));
  } finally {
    spawnSync('ctr', ['--address', sock, 'tasks', 'rm', '-f', name], { timeout: 30000 });
    spawnSync('ctr', ['--address', sock, 'containers', 'rm', name], { timeout: 30000 });
    daemon.kill('SIGTERM');
    await new Promise((r) => (daemon.exitCode !== null ? r() : daemon.on('exit', r)));
  }
});

// ---- main ----------------------------------------------------------------------------------

async function main() {
  const resultsFile = process.argv[2];
  const results = [];
  const report = (r) => {
    const withSuite = { suite: 'criu', ...r };
    results.push(withSuite);
    console.log(`V2RESULT ${JSON.stringify(withSuite)}`);
  };
  if (spawnSync('criu', ['--version']).error) {
    console.log('V2INFO criu checks SKIPPED: criu is not installed (apt-get install criu)');
    return 0;
  }
  // CRIU needs the loopback up (its TCP repair probe).
  spawnSync('ip', ['link', 'set', 'lo', 'up']);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2cr-'));
  stateRoot = path.join(tmp, 'state');
  const only = process.env.V2_ONLY;
  for (const c of checks) {
    if (only && !c.name.includes(only)) continue;
    await runCheck(c.name, c.fn, report);
    for (const id of ids.splice(0)) tsbox(['delete', '--force', id], { mayFail: true });
    const left = fs.readdirSync(CG).filter((d) => d.startsWith(`tsbox-v2cr-${process.pid}-`));
    if (left.length > 0) report({ name: `${c.name}: clean-up`, ok: false, error: `left: ${left.join(', ')}` });
    if (resultsFile) fs.writeFileSync(resultsFile, JSON.stringify(results, null, 2));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return results.every((r) => r.ok) ? 0 : 1;
}

module.exports = { checks: checks.map((c) => c.name) };

if (require.main === module) runAsScript(main, 'v2 criu checks');
