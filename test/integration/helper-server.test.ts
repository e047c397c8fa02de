// The pre-started helper (lib/helper-server.ts, native/helper/spawner.cc):
// a helper forked from it must be what an executed helper is (the same
// descriptors, signal state, parent and read-only image), the containers
// it launches must look the same from inside, and it must leave nothing
// behind but itself, and nothing after stopHelper.

import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { prestartHelper, stopHelper } from '../../lib/helper-server.js';
import { hostSnapshot } from '../../lib/host/facts.js';
import { native } from '../../lib/native/binding.js';
import { buildPlan } from '../../lib/plan/build.js';
import { encodePlan } from '../../lib/plan/encode.js';
import { run } from '../../lib/run.js';
import { childPids, hostMounts, isRoot, makeBundle, type TestBundle } from '../helpers/bundle.js';
import { installFixture, runtimeFiles, type AttackReport } from '../helpers/security.js';

/** What /proc says of a waiting helper: its descriptors (number -> target), signal state, parent, whether its exe opens for writing. */
interface HelperView {
  fds: Record<string, string>;
  sigBlk: string;
  sigIgn: string;
  ppid: number;
  exeWrite: string;
}

function viewOf(pid: number): HelperView {
  const fds: Record<string, string> = {};
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
    // Socket and pipe inode numbers differ per helper: only the kind is compared.
    fds[fd] = target.replace(/^(socket|pipe):\[\d+\]$/, '$1');
  }
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
  let exeWrite = 'opened';
  try {
    fs.closeSync(fs.openSync(`/proc/${pid}/exe`, 'r+'));
  } catch (err) {
    exeWrite = (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return { fds, sigBlk: field('SigBlk'), sigIgn: field('SigIgn'), ppid: Number(field('PPid')), exeWrite };
}

async function recvOne(sock: number) {
  for (;;) {
    const r = await native().recv(sock);
    if (r !== 'again') return r;
  }
}

/**
 * Starts a helper whose plan makes it wait (awaitCgroup: it says
 * "cgroup-pending" and waits for the runtime), looks at it, and lets it go
 * ("abort": it exits quietly).
 */
async function waitingHelper(b: TestBundle, stdio: [number, number, number], extra: number[]): Promise<HelperView> {
  const plan = buildPlan({ spec: JSON.parse(fs.readFileSync(b.configPath, 'utf8')), bundleDir: b.dir, rootfs: b.rootfs }, hostSnapshot());
  const n = native();
  const spawned = n.spawnHelper(n.helperPath, encodePlan({ ...plan, awaitCgroup: true }), stdio, extra);
  try {
    const msg = await recvOne(spawned.sock);
    expect(msg?.fields.slice(0, 2)).toEqual(['cgroup-pending', String(spawned.pid)]);
    return viewOf(spawned.pid);
  } finally {
    n.send(spawned.sock, ['abort']);
    n.close(spawned.sock);
    const exit = await n.waitExit(spawned.pidfd);
    n.close(spawned.pidfd);
    expect(exit).toEqual({ code: 1, signal: null });
  }
}

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe.skipIf(!isRoot)('the pre-started helper', () => {
  const bundles: TestBundle[] = [];
  const mountsBefore = hostMounts();
  afterEach(() => {
    stopHelper();
    for (const b of bundles.splice(0)) b.cleanup();
    expect(hostMounts()).toEqual(mountsBefore);
  });

  it('a helper forked from it has what an executed one has: stdio, the preserved descriptors and its sync socket only, the signal state, this process as parent, its exe refused for writing', async () => {
    const b = makeBundle({ args: ['/bin/true'] });
    bundles.push(b);
    b.write();
    const [r, w] = native().pipe();
    const extra = [fs.openSync('/dev/null', 'r'), fs.openSync(b.configPath, 'r')];
    try {
      const stdio: [number, number, number] = [r, w, w];
      const executed = await waitingHelper(b, stdio, extra);
      prestartHelper();
      const forked = await waitingHelper(b, stdio, extra);
      expect(executed).toMatchObject({
        fds: { 0: 'pipe', 1: 'pipe', 2: 'pipe', 3: '/dev/null', 4: b.configPath, 5: 'socket' },
        sigBlk: '0000000000000000',
        ppid: process.pid,
      });
      // Busy while it runs, read-only always: refused either way.
      expect(['EROFS', 'ETXTBSY']).toContain(executed.exeWrite);
      // Ignored signals: none but glibc's own two (32, 33), which
      // posix_spawn cannot reset and the init does (launcher hygiene).
      expect(executed.sigIgn).toMatch(/^0{7}(18|00)0{7}$/);
      expect(forked).toEqual(executed);
    } finally {
      for (const fd of [r, w, ...extra]) native().close(fd);
    }
  });

  it('library runs through it: the container sees only stdio and default signal state; nothing is left but the pre-started helper, and nothing after stopHelper, after successes and failures', async () => {
    const probe = makeBundle();
    const ok = makeBundle({ args: ['/bin/true'] });
    const bad = makeBundle({ args: ['/bin/nope'] });
    bundles.push(probe, ok, bad);
    const children = childPids();
    const fds = openFds();
    prestartHelper();
    const server = childPids().filter((p) => !children.includes(p));
    expect(server).toHaveLength(1);
    // Its arguments show once its execve is through (posix_spawn returns a little before).
    const cmdline = () => fs.readFileSync(`/proc/${server[0]}/cmdline`, 'utf8');
    for (let i = 0; i < 100 && cmdline() === ''; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(cmdline()).toBe('tsbox-helper\0--spawner\0');
    // Started once: a second call keeps it.
    prestartHelper();
    expect(childPids()).toEqual([...children, ...server].sort((a, b) => a - b));

    const c = await run(probe.dir, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const ended = new Promise((resolve) => c.stdout!.on('close', resolve));
    expect((await c.exited).status).toBe(0);
    await ended;
    const seen = JSON.parse(out);
    expect(seen.fds).toEqual([0, 1, 2]);
    expect(seen.sigignore).toBe('0000000000000000');
    expect(seen.sigmask).toBe('0000000000000000');

    for (let i = 0; i < 10; i++) {
      const r = await run(ok.dir, { stdio: 'pipe' });
      r.stdout!.resume();
      r.stderr!.resume();
      expect((await r.exited).status).toBe(0);
      await expect(run(bad.dir, { stdio: 'pipe' })).rejects.toThrow('exec "/bin/nope": no such file or directory (ENOENT)');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Its control socket is the one descriptor it adds.
    expect(openFds()).toBe(fds + 1);
    expect(childPids()).toEqual([...children, ...server].sort((a, b) => a - b));
    stopHelper();
    expect(openFds()).toBe(fds);
    expect(childPids()).toEqual(children);
    expect(fs.existsSync(`/proc/${server[0]}`)).toBe(false);
  });

  // CVE-2019-5736 (security-exe.test.ts) against the long-lived process:
  // a container in the host's pid namespace, with all of root's
  // capabilities (CAP_SYS_PTRACE too), sees the pre-started helper the
  // whole time and the helpers forked from it while containers start.
  it('a container in the host\'s pid namespace cannot open the pre-started helper\'s exe (nor a forked one\'s) for writing, now or later through O_PATH; the host files stay as they were', async () => {
    const before = runtimeFiles();
    const attacker = makeBundle({ args: ['/bin/exe-attack', '2000', '/tmp/attack-ready'] });
    const victim = makeBundle({ args: ['/bin/true'] });
    bundles.push(attacker, victim);
    attacker.config.linux.namespaces = attacker.config.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
    attacker.write();
    installFixture(attacker.rootfs, 'exe-attack');
    prestartHelper();
    const c = await run(attacker.dir, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const ended = new Promise((resolve) => c.stdout!.on('close', resolve));
    for (let i = 0; i < 200 && !fs.existsSync(`${attacker.rootfs}/tmp/attack-ready`); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    let runs = 0;
    for (const deadline = Date.now() + 1500; Date.now() < deadline; runs++) await (await run(victim.dir, { stdio: 'ignore' })).exited;
    expect(runs).toBeGreaterThan(1);
    expect((await c.exited).status).toBe(0);
    await ended;
    const report = JSON.parse(out) as AttackReport;
    // While the pre-started helper runs, its file is busy (ETXTBSY) before the read-only mount's EROFS is reached.
    const helper = Object.keys(report.targets).filter((t) => t.endsWith('/tsbox-helper'));
    expect(helper, `targets seen: ${Object.keys(report.targets).join(', ')}`).not.toEqual([]);
    for (const name of helper) {
      for (const phase of [report.targets[name]!.now, report.targets[name]!.late]) {
        expect(phase.opened, `${name} opened for writing`).toBe(0);
        for (const code of Object.keys(phase.errors)) expect(['EROFS', 'ETXTBSY', 'EACCES', 'ENOENT', 'ESRCH'], `${name}: ${code}`).toContain(code);
      }
      expect(report.targets[name]!.now.attempts).toBeGreaterThan(0);
    }
    expect(runtimeFiles()).toEqual(before);
  });

  it('one that died is stopped and reaped at the next run, which executes the helper instead', async () => {
    const ok = makeBundle({ args: ['/bin/true'] });
    bundles.push(ok);
    const children = childPids();
    const fds = openFds();
    const pid = native().startHelperServer(native().helperPath);
    process.kill(pid, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await (await run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(childPids()).toEqual(children);
    expect(openFds()).toBe(fds);
  });
});
