// CVE-2019-5736 class: a process in a container must not be able to open
// the runtime's executables (node, the addon, tsbox-helper) for writing
// through /proc/<pid>/exe of a runtime process it can see. The container's
// init and every exec'd process start as tsbox-helper, executed from a
// read-only detached clone of its directory and non-dumpable until execve
// (native/addon.cc, "the helper's image"), so what the container can reach
// is the helper on a read-only mount. The attacker is
// test/fixtures/exe-attack.c, run inside a real container; each test checks
// that every attempt failed and the host files are byte for byte unchanged.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../../lib/runtime/runtime.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { lifecycleSession, waitUntil, type Proc } from '../helpers/lifecycle.js';
import { installFixture, runtimeFiles, type AttackReport } from '../helpers/security.js';
import { native } from '../../lib/native/binding.js';

/** Errors an attempt may end with: refused (EROFS, EACCES, ETXTBSY) or the process gone. */
const REFUSED = ['EROFS', 'EACCES', 'ETXTBSY', 'ENOENT', 'ESRCH'];

/** Capabilities of a root process without CAP_SYS_PTRACE (the default set of runc spec). */
const NO_PTRACE = ['CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE'];

describe.skipIf(!isRoot)('CVE-2019-5736: the runtime executables cannot be opened for writing from a container', () => {
  const lc = lifecycleSession();
  let before: Record<string, string>;

  beforeAll(() => {
    before = runtimeFiles();
  });
  afterEach(() => {
    expect(runtimeFiles(), 'node, tsbox.node and tsbox-helper after the attack').toEqual(before);
  });

  /** The attacker's container (sleeping init, all of root's capabilities), running. */
  async function attackerContainer(id: string): Promise<{ b: TestBundle; pid: number }> {
    const b = lc.bundle({ args: ['sleep', '100'] });
    installFixture(b.rootfs, 'exe-attack');
    lc.track(id);
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, id])).toMatchObject({ status: 0, stderr: '' });
    return { b, pid: (await lc.state(id)).pid };
  }

  async function report(p: Proc): Promise<AttackReport> {
    const [exit, stdout, stderr] = await Promise.all([p.exited, p.stdout.end, p.stderr.end]);
    expect(exit, `the attacker (stderr: ${stderr})`).toEqual({ status: 0, signal: null });
    return JSON.parse(stdout) as AttackReport;
  }

  /** What a helper process's exe link read as (through the read-only clone: "/tsbox-helper"). */
  function helperTarget(r: AttackReport) {
    const name = Object.keys(r.targets).find((t) => t.endsWith('/tsbox-helper'));
    return name === undefined ? undefined : { name, ...r.targets[name]! };
  }

  /** Every attempt on a helper process failed, with an expected error. */
  function expectHelperRefused(r: AttackReport, seen: 'must' | 'may'): void {
    if (seen === 'must') expect(helperTarget(r), `targets seen: ${Object.keys(r.targets).join(', ')}`).toBeDefined();
    for (const [target, t] of Object.entries(r.targets)) {
      // The container's own executables are its to write; everything else is not.
      if (target.startsWith('/bin/')) continue;
      for (const phase of [t.now, t.late]) {
        expect(phase.opened, `${target} opened for writing`).toBe(0);
        for (const code of Object.keys(phase.errors)) expect(REFUSED, `${target}: ${code}`).toContain(code);
      }
    }
  }

  it('the helper is executed from a read-only mount (open_tree clone), not from its writable one', () => {
    expect(native().helperImage(native().helperPath)).toEqual({ readOnly: true, reason: '' });
  });

  it('a waiting init (create) in the attacker\'s pid namespace: EROFS after it executes, even with CAP_SYS_PTRACE', async () => {
    const { b: a, pid: apid } = await attackerContainer('attacker');
    const victim = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => {
        c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${apid}/ns/pid` } : ns));
      },
    });
    lc.track('victim');
    expect(await lc.spawn(['create', '--bundle', victim.dir, 'victim'], ['ignore', 'ignore', 'ignore']).exited).toMatchObject({ status: 0 });
    // The waiting init runs the helper's own file (no copy per container),
    // reached through a mount that is read-only.
    const exe = `/proc/${(await lc.state('victim')).pid}/exe`;
    const [running, installed] = [fs.statSync(exe), fs.statSync(native().helperPath)];
    expect([running.dev, running.ino]).toEqual([installed.dev, installed.ino]);
    expect(fs.readlinkSync(exe)).toBe('/tsbox-helper');
    const ready = path.join(a.rootfs, 'tmp', 'attack-ready');
    const attack = lc.spawn(['exec', 'attacker', '/bin/exe-attack', '1500', '/tmp/attack-ready']);
    await waitUntil('the attack to start', () => fs.existsSync(ready));
    // Let the attacker find the waiting init (still tsbox-helper), then let
    // it execute: the O_PATH descriptors kept are reopened after that.
    await new Promise((r) => setTimeout(r, 300));
    expect(await lc.cli(['start', 'victim'])).toMatchObject({ status: 0 });
    const r = await report(attack);
    expectHelperRefused(r, 'must');
    const helper = helperTarget(r)!;
    // Reached through the detached clone, whose root is the helper's directory.
    expect(helper.name).toBe('/tsbox-helper');
    // While the init was the helper: the file is busy (ETXTBSY) or the mount read-only.
    expect(helper.now.attempts).toBeGreaterThan(0);
    // Once it had executed the process, only the read-only mount stands in the way.
    expect(helper.late.attempts).toBeGreaterThan(0);
    expect(helper.late.errors).toEqual({ EROFS: helper.late.attempts });
  });

  it('without CAP_SYS_PTRACE the non-dumpable helper\'s exe cannot even be opened (EACCES)', async () => {
    const { pid: apid } = await attackerContainer('attacker2');
    const victim = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => {
        c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) => (ns.type === 'pid' ? { type: 'pid', path: `/proc/${apid}/ns/pid` } : ns));
      },
    });
    lc.track('victim2');
    expect(await lc.spawn(['create', '--bundle', victim.dir, 'victim2'], ['ignore', 'ignore', 'ignore']).exited).toMatchObject({ status: 0 });
    // The attacker: root without CAP_SYS_PTRACE (a whole process: exec's
    // --cap only adds to the container's own set).
    const processFile = path.join(lc.scratch(), 'process.json');
    fs.writeFileSync(processFile, JSON.stringify({
      args: ['/bin/exe-attack', '300'], cwd: '/', user: { uid: 0, gid: 0 }, env: ['PATH=/bin'],
      capabilities: { bounding: NO_PTRACE, effective: NO_PTRACE, permitted: NO_PTRACE },
    }));
    const r = await report(lc.spawn(['exec', '--process', processFile, 'attacker2']));
    expectHelperRefused(r, 'may');
    const denied = r.targets['(readlink: EACCES)'];
    expect(denied, `targets seen: ${Object.keys(r.targets).join(', ')}`).toBeDefined();
    expect(denied!.now.opened).toBe(0);
    expect(Object.keys(denied!.now.errors)).toEqual(['EACCES']);
    expect(helperTarget(r)).toBeUndefined();
  });

  async function execStorm(exec: () => Promise<unknown>, a: TestBundle, attack: Proc): Promise<AttackReport> {
    await waitUntil('the attack to start', () => fs.existsSync(path.join(a.rootfs, 'tmp', 'attack-ready')));
    const deadline = Date.now() + 2000;
    let execs = 0;
    while (Date.now() < deadline) {
      await exec();
      execs++;
    }
    expect(execs).toBeGreaterThan(1);
    return report(attack);
  }

  it('during `tsbox exec` (CLI): every exec\'d process starts as the helper on a read-only mount', async () => {
    const { b: a } = await attackerContainer('attacker3');
    const attack = lc.spawn(['exec', 'attacker3', '/bin/exe-attack', '3000', '/tmp/attack-ready']);
    const r = await execStorm(async () => expect(await lc.cli(['exec', 'attacker3', '/bin/true'])).toMatchObject({ status: 0 }), a, attack);
    expectHelperRefused(r, 'may');
  });

  it('during Runtime.exec (library): the same', async () => {
    const { b: a } = await attackerContainer('attacker4');
    const rt = new Runtime({ root: lc.root });
    const attack = lc.spawn(['exec', 'attacker4', '/bin/exe-attack', '3000', '/tmp/attack-ready']);
    const r = await execStorm(async () => {
      const c = await rt.exec('attacker4', { args: ['/bin/true'], cwd: '/', user: { uid: 0, gid: 0 } }, { stdio: 'ignore' });
      expect((await c.exited).status).toBe(0);
    }, a, attack);
    expectHelperRefused(r, 'may');
  });
});
