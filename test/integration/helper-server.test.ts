// The pre-started helper (lib/helper-server.ts, native/helper/spawner.cc):
// a helper forked from it must be what an executed helper is (the same
// descriptors, signal state, parent and read-only image), the containers
// it launches must look the same from inside, and it must leave nothing
// behind but itself, and nothing after stopHelper.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prestartHelper, run as libraryRun, stopHelper } from '../../lib/helper-server.js';
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

/** The one child of this process that is a pre-started helper, or undefined. */
function spawnerPid(): number | undefined {
  return childPids().find((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'tsbox-helper\0--spawner\0';
    } catch {
      return false;
    }
  });
}

/** How often a process has given up the CPU by itself: the spawner does at each request it waits for. */
function voluntarySwitches(pid: number): number {
  return Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
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
  it('the library\'s run() starts it at its first container and forks each helper from it; stopHelper() turns that off until prestartHelper()', async () => {
    const ok = makeBundle({ args: ['/bin/true'] });
    bundles.push(ok);
    // As a program that loaded the library has it: no stopHelper() said before (the other tests' did).
    vi.resetModules();
    const fresh = (await import('../../lib/helper-server.js')) as typeof import('../../lib/helper-server.js');
    const children = childPids();
    const fds = openFds();
    expect(spawnerPid()).toBeUndefined();
    expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    const server = spawnerPid();
    expect(server).toBeDefined();
    const before = voluntarySwitches(server!);
    for (let i = 0; i < 5; i++) expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    // It waited for (and answered) each of the five requests.
    expect(voluntarySwitches(server!) - before).toBeGreaterThanOrEqual(5);
    expect(spawnerPid()).toBe(server);
    expect(openFds()).toBe(fds + 1);
    fresh.stopHelper();
    expect(fs.existsSync(`/proc/${server}`)).toBe(false);
    for (let i = 0; i < 3; i++) expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    expect(childPids()).toEqual(children);
    expect(openFds()).toBe(fds);
    const again = fresh.prestartHelper();
    expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    expect(spawnerPid()).toBe(again);
    expect(openFds()).toBe(fds + 1);
  });

  it('one that died under the library\'s run() is replaced: the run that finds it dead executes its helper (and reaps the dead one), the next starts another', async () => {
    const ok = makeBundle({ args: ['/bin/true'] });
    bundles.push(ok);
    vi.resetModules();
    const fresh = (await import('../../lib/helper-server.js')) as typeof import('../../lib/helper-server.js');
    const children = childPids();
    expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    const first = spawnerPid()!;
    expect(first).toBeDefined();
    process.kill(first, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    expect(fs.existsSync(`/proc/${first}`)).toBe(false);
    expect((await (await fresh.run(ok.dir, { stdio: 'ignore' })).exited).status).toBe(0);
    const second = spawnerPid();
    expect(second).toBeDefined();
    expect(second).not.toBe(first);
    expect(childPids()).toEqual([...children, second!].sort((a, b) => a - b));
  });

  it('a Node process that ran containers through the library exits once its work is done (the pre-started helper holds nothing of its event loop) and the helper ends with it; one started under other credentials is replaced, not used', async () => {
    const ok = makeBundle({ args: ['/bin/true'] });
    bundles.push(ok);
    const script = path.join(ok.dir, 'user.js');
    // As a program using the package would: the built library, no stopHelper().
    fs.writeFileSync(
      script,
      `const tsbox = require(${JSON.stringify(path.resolve(__dirname, '../../dist/index.js'))});
(async () => {
  const once = async () => (await (await tsbox.run(${JSON.stringify(ok.dir)}, { stdio: 'ignore' })).exited).status;
  const first = [await once(), tsbox.prestartHelper()];
  process.setgroups([0, 4242]);
  const second = [await once(), tsbox.prestartHelper()];
  let firstAlive = true;
  try { process.kill(first[1], 0); } catch { firstAlive = false; }
  console.log(JSON.stringify({ first, second, firstAlive }));
})();
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('close', (c, signal) => {
        clearTimeout(timer);
        resolve(c ?? signal);
      });
    });
    expect(code).toBe(0);
    const seen = JSON.parse(out) as { first: [number, number]; second: [number, number]; firstAlive: boolean };
    expect(seen.first[0]).toBe(0);
    expect(seen.second[0]).toBe(0);
    expect(seen.second[1]).not.toBe(seen.first[1]);
    expect(seen.firstAlive).toBe(false);
    // Its control socket ended with the process: it exits (and its new parent reaps it).
    let gone = false;
    for (let i = 0; i < 100 && !gone; i++) {
      gone = !fs.existsSync(`/proc/${seen.second[1]}`) || fs.readFileSync(`/proc/${seen.second[1]}/cmdline`, 'utf8') !== 'tsbox-helper\0--spawner\0';
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(gone).toBe(true);
  });

  // Every helper is a fork of the pre-started one: what a container's
  // helper had (its plan: the config's arguments and environment) must
  // never be in it. A container in the host's pid namespace with all of
  // root's capabilities (CAP_SYS_PTRACE: it may read the memory of the
  // non-dumpable helper) reads the whole writable memory of the
  // pre-started helper after others ran, some concurrently with it, for
  // their secrets; the helper's own "--spawner" argument is the control
  // that the reading works.
  it('no container\'s plan reaches the pre-started helper: a container with CAP_SYS_PTRACE in the host\'s pid namespace finds none of 20 others\' secrets in its memory, only its own arguments', async () => {
    const secrets = Array.from({ length: 20 }, () => `tsbox-secret-${randomBytes(12).toString('hex')}`);
    const victims = secrets.map((secret) => {
      const b = makeBundle({ args: ['/bin/true', secret], mutate: (c) => c.process.env.push(`SECRET=${secret}`) });
      bundles.push(b);
      return b;
    });
    const server = prestartHelper();
    const scanner = makeBundle({ args: ['/bin/mem-scan', String(server), '--spawner', ...secrets] });
    bundles.push(scanner);
    scanner.config.linux.namespaces = scanner.config.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
    scanner.write();
    installFixture(scanner.rootfs, 'mem-scan');
    // Half before, half while it scans (4 at a time).
    const runVictims = async (list: TestBundle[]) => {
      for (let i = 0; i < list.length; i += 4) {
        await Promise.all(list.slice(i, i + 4).map(async (v) => expect((await (await libraryRun(v.dir, { stdio: 'ignore' })).exited).status).toBe(0)));
      }
    };
    await runVictims(victims.slice(0, 10));
    const c = await libraryRun(scanner.dir, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const ended = new Promise((resolve) => c.stdout!.on('close', resolve));
    await runVictims(victims.slice(10));
    expect((await c.exited).status).toBe(0);
    await ended;
    const report = JSON.parse(out) as { bytes: number; found: Record<string, boolean> };
    expect(report.bytes).toBeGreaterThan(0);
    expect(report.found['--spawner']).toBe(true);
    for (const secret of secrets) expect(report.found[secret], secret).toBe(false);
    expect(spawnerPid()).toBe(server);
  });
});
