'use strict';
// Cleans up after an engine test worker that died without its teardown:
// vitest ends a worker 500 ms after SIGTERM with SIGKILL (an interrupted
// run), far too soon for EngineSandbox.teardown() to stop daemons. Started
// detached by each EngineSandbox; exits as soon as the sandbox directory is
// gone (the teardown ran). When the worker is gone and the directory is not,
// it kills every process whose command line names the directory, their
// descendants and whatever shares their mount namespaces, unmounts what is
// under the directory and removes it.
//
//   TSBOX_REAP_DIR=SANDBOX_DIR node sandbox-reaper.cjs WORKER_PID WORKER_START_TIME

const fs = require('node:fs');
const path = require('node:path');

const [workerPid, workerStart, dir] = [Number(process.argv[2]), process.argv[3], process.env.TSBOX_REAP_DIR];

function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function read(file) {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function pids() {
  return fs.readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => pid !== process.pid);
}

function mountNamespace(pid) {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/** The processes of the sandbox: named it, descend from one that does, or share a private mount namespace with one. */
function sandboxProcesses() {
  const all = pids();
  const parent = new Map(all.map((pid) => [pid, Number(/^PPid:\s+(\d+)/m.exec(read(`/proc/${pid}/status`))?.[1])]));
  const found = new Set(all.filter((pid) => read(`/proc/${pid}/cmdline`).includes(dir)));
  for (let grew = true; grew; ) {
    grew = false;
    for (const pid of all) {
      if (!found.has(pid) && found.has(parent.get(pid))) {
        found.add(pid);
        grew = true;
      }
    }
  }
  const ownNs = mountNamespace('self');
  const namespaces = new Set([...found].map(mountNamespace).filter((ns) => ns && ns !== ownNs));
  for (const pid of all) if (namespaces.has(mountNamespace(pid))) found.add(pid);
  return [...found];
}

function reap() {
  for (let round = 0; round < 5; round++) {
    const left = sandboxProcesses();
    if (left.length === 0) break;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
  }
  const mounts = read('/proc/self/mountinfo').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && (m === dir || m.startsWith(dir + path.sep)));
  for (const m of mounts.reverse()) require('node:child_process').spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

const timer = setInterval(() => {
  if (!fs.existsSync(dir)) process.exit(0);
  if (startTime(workerPid) === workerStart) return;
  clearInterval(timer);
  reap();
}, 250);
