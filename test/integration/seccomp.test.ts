// linux.seccomp through real containers: the filter is loaded (Seccomp: 2),
// rules with errnoRet, a default ERRNO action with an allowlist, argument
// comparisons, killing actions, a profile that blocks execve, filter flags,
// the SCMP_ACT_NOTIFY listener handed to an agent at listenerPath, and exec
// under the container's filter.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { containerSession, readAll as readStream, variant } from '../helpers/containers.js';
import { lifecycleSession, spawnProc } from '../helpers/lifecycle.js';
import { buildSeccompAgent, hostSyscallNames, libseccompHeaderVersion } from '../helpers/seccomp.js';
import { tsbox } from '../helpers/cli.js';

const ENOMSG = 42;
const ENOMSG_TEXT = 'No message of desired type';
const EDQUOT_TEXT = 'Disk quota exceeded';

/** The same bundle running other args. */
function variantArgs(b: Parameters<typeof variant>[0], args: string[]) {
  return variant(b, (spec) => (spec.process.args = args));
}

/** A profile that allows everything but the given rules. */
function allowBut(...syscalls: object[]): object {
  return { defaultAction: 'SCMP_ACT_ALLOW', syscalls };
}

describe.skipIf(!isRoot)('linux.seccomp' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const s = containerSession();

  it('loads the filter with and without noNewPrivileges, also for a user without capabilities', async () => {
    const profile = allowBut({ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' });
    const nnp = s.bundle({ mutate: (c) => (c.linux.seccomp = profile) });
    // Without no_new_privs loading needs CAP_SYS_ADMIN: it must happen
    // before the capabilities of this unprivileged user are dropped.
    const privs = s.bundle({
      mutate: (c) => {
        c.linux.seccomp = profile;
        c.process.noNewPrivileges = false;
        c.process.user = { uid: 1000, gid: 1000 };
        c.process.capabilities = { bounding: [], effective: [], permitted: [] };
      },
    });
    const none = s.bundle();
    const [a, b, n] = await Promise.all([s.probe(nnp), s.probe(privs), s.probe(none)]);
    expect(a.status).toMatchObject({ Seccomp: '2', Seccomp_filters: '1', NoNewPrivs: '1' });
    expect(b.status).toMatchObject({ Seccomp: '2', Seccomp_filters: '1', NoNewPrivs: '0', CapEff: '0000000000000000' });
    expect(b.uid).toBe(1000);
    expect(n.status).toMatchObject({ Seccomp: '0', Seccomp_filters: '0' });
  });

  it('SCMP_ACT_ERRNO with errnoRet: the process sees that errno, and nothing is made on the host', async () => {
    const b = s.bundle({
      args: ['mkdir', '/tmp/made'],
      mutate: (c) => (c.linux.seccomp = allowBut({ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOMSG })),
    });
    const r = await s.collect(b);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(ENOMSG_TEXT);
    expect(fs.existsSync(path.join(b.rootfs, 'tmp', 'made'))).toBe(false);
  });

  it('defaultAction SCMP_ACT_ERRNO with defaultErrnoRet and an allowlist; names libseccomp lacks are skipped with a warning', async () => {
    // Every system call the host's headers name but mkdir and mkdirat,
    // including some newer than libseccomp 2.5.4 and one that exists nowhere.
    const allowed = hostSyscallNames().filter((n) => n !== 'mkdir' && n !== 'mkdirat');
    const b = s.bundle({
      args: ['sh', '-c', 'echo allowed; mkdir /tmp/d'],
      mutate: (c) =>
        (c.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ERRNO',
          defaultErrnoRet: ENOMSG,
          architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
          syscalls: [{ names: [...allowed, 'tsbox_no_such_call'], action: 'SCMP_ACT_ALLOW' }],
        }),
    });
    const c = await s.start(b, { stdio: ['ignore', 'pipe', 'pipe'] });
    const [status, stdout, stderr] = await Promise.all([c.exited, readStream(c.stdout), readStream(c.stderr)]);
    expect(stdout).toBe('allowed\n');
    expect(stderr).toContain(ENOMSG_TEXT);
    expect(status.code).toBe(1);
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(/^linux\.seccomp: rules for system calls unknown to libseccomp skipped: .*tsbox_no_such_call$/);
  });

  it('compares arguments: SCMP_CMP_EQ on one argument, SCMP_CMP_MASKED_EQ on open flags, repeated conditions on one argument', async () => {
    const O_ACCMODE = 3;
    const O_WRONLY = 1;
    const SIGCONT = 18;
    const SIGWINCH = 28;
    const b = s.bundle({
      args: ['sh', '-c', 'kill -0 $$ && echo zero; kill -CONT $$ && echo cont; kill -WINCH $$ && echo winch; kill -TERM $$ && echo term'],
      mutate: (c) =>
        (c.linux.seccomp = allowBut(
          // kill(pid, 0) only.
          { names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOMSG, args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
          // Two conditions on the same argument: either one applies the rule (as in runc).
          {
            names: ['kill'],
            action: 'SCMP_ACT_ERRNO',
            errnoRet: 7,
            args: [
              { index: 1, value: SIGCONT, op: 'SCMP_CMP_EQ' },
              { index: 1, value: SIGWINCH, op: 'SCMP_CMP_EQ' },
            ],
          },
        )),
    });
    const r = await s.collect(b);
    // kill(pid, SIGTERM) was not filtered (the shell is pid 1: it ignores the signal).
    expect(r.stdout).toBe('term\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(ENOMSG_TEXT);
    expect(r.stderr.match(/Argument list too long/g)).toHaveLength(2); // E2BIG = 7, for CONT and WINCH

    const masked = s.bundle({
      mutate: (c) =>
        (c.linux.seccomp = allowBut({
          names: ['openat', 'open'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: ENOMSG,
          args: [{ index: 2, value: O_ACCMODE, valueTwo: O_WRONLY, op: 'SCMP_CMP_MASKED_EQ' }],
        })),
    });
    const write = await s.collect(variantArgs(masked, ['/bin/probe', 'write', '/tmp/f', 'x']));
    const read = await s.collect(variantArgs(masked, ['/bin/probe', 'open', '/etc/passwd', 'r']));
    expect(JSON.parse(write.stdout)).toMatchObject({ ok: false, errno: ENOMSG });
    expect(JSON.parse(read.stdout)).toMatchObject({ ok: true });
  });

  it('SCMP_ACT_KILL_PROCESS and SCMP_ACT_KILL: the process dies of SIGSYS', async () => {
    const forAction = (action: string) =>
      s.bundle({ args: ['mkdir', '/tmp/x'], mutate: (c) => (c.linux.seccomp = allowBut({ names: ['mkdir', 'mkdirat'], action })) });
    const [p, t, trap] = await Promise.all([
      s.collect(forAction('SCMP_ACT_KILL_PROCESS')),
      s.collect(forAction('SCMP_ACT_KILL')),
      s.collect(forAction('SCMP_ACT_TRAP')),
    ]);
    for (const r of [p, t, trap]) expect(r).toMatchObject({ code: null, signal: 'SIGSYS', status: 128 + 31 });
  });

  it('a profile that blocks execve: SCMP_ACT_ERRNO fails the start with the errno, SCMP_ACT_KILL_PROCESS kills the process at exec', async () => {
    const errno = s.bundle({ mutate: (c) => (c.linux.seccomp = allowBut({ names: ['execve', 'execveat'], action: 'SCMP_ACT_ERRNO' })) });
    await expect(s.start(errno)).rejects.toThrow(/^exec "\/bin\/probe": operation not permitted \(EPERM\)$/);
    const kill = s.bundle({ mutate: (c) => (c.linux.seccomp = allowBut({ names: ['execve'], action: 'SCMP_ACT_KILL_PROCESS' })) });
    const r = await s.collect(kill);
    expect(r).toMatchObject({ stdout: '', code: null, signal: 'SIGSYS' });
  });

  it('flags: TSYNC, LOG and SPEC_ALLOW load; WAIT_KILLABLE_RECV and an architecture libseccomp lacks are clear errors', async () => {
    const flagged = s.bundle({
      mutate: (c) =>
        (c.linux.seccomp = {
          ...allowBut({ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }),
          flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'],
        }),
    });
    expect((await s.probe(flagged)).status.Seccomp).toBe('2');
    const waitKill = s.bundle({
      mutate: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] }),
    });
    await expect(s.start(waitKill)).rejects.toThrow(
      /^seccomp flag "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": not supported by libseccomp 2\.5\.\d+ \(needs 2\.6\.0 or later\)$/,
    );
    // An architecture the spec names but this libseccomp does not know.
    const m68k = s.bundle({ mutate: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_M68K'] }) });
    await expect(s.start(m68k)).rejects.toThrow(/^seccomp architecture "SCMP_ARCH_M68K": not known to libseccomp 2\.5\.\d+$/);
  });

  it('SCMP_ACT_NOTIFY: the agent at listenerPath gets the state and the fd, and its answers are what the process sees', async () => {
    const dir = s.tempDir();
    const sock = path.join(dir, 'agent.sock');
    const agent = spawnProc(buildSeccompAgent(), [sock]);
    s.onCleanup(async () => {
      agent.child.kill('SIGKILL');
      await agent.exited;
    });
    await agent.stdout.waitFor('listening\n');
    const b = s.bundle({
      args: ['sh', '-c', 'echo pid=$$; mkdir /tmp/n'],
      mutate: (c) => {
        c.annotations = { 'org.test': 'notify' };
        c.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          listenerPath: sock,
          listenerMetadata: 'meta=data',
          syscalls: [{ names: ['getpid', 'mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }],
        };
      },
    });
    const c = await s.start(b, { stdio: ['ignore', 'pipe', 'pipe'] });
    const [status, stdout, stderr] = await Promise.all([c.exited, readStream(c.stdout), readStream(c.stderr)]);
    // getpid answered by the agent, mkdir failed by it.
    expect(stdout).toBe('pid=4242\n');
    expect(stderr).toContain(EDQUOT_TEXT);
    expect(status.code).toBe(1);

    const state = JSON.parse((await agent.stdout.waitFor(/\{.*\}\n/)).split('\n')[1]!);
    expect(state).toMatchObject({
      ociVersion: expect.any(String),
      fds: ['seccompFd'],
      pid: c.pid,
      metadata: 'meta=data',
      state: { status: 'creating', pid: c.pid, bundle: b.dir, annotations: { 'org.test': 'notify' } },
    });
    // The agent ends when no process uses the filter any more.
    expect(await agent.exited).toMatchObject({ status: 0 });
  });

  it('SCMP_ACT_NOTIFY: an agent that is not there is a one-line error naming the path, and nothing is left behind', async () => {
    const dir = s.tempDir();
    const missing = path.join(dir, 'nobody.sock');
    const b = s.bundle({
      mutate: (c) =>
        (c.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          listenerPath: missing,
          syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }],
        }),
    });
    await expect(s.start(b)).rejects.toThrow(
      `connect to seccomp listener (linux.seccomp.listenerPath) "${missing}": no such file or directory (ENOENT)`,
    );
    // The session's checks after the test: no child process, no mount left.
  });
});

describe.skipIf(!isRoot)('linux.seccomp through the CLI', () => {
  const lc = lifecycleSession();

  it('exec runs under the container filter', async () => {
    const b = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => (c.linux.seccomp = allowBut({ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOMSG })),
    });
    lc.track('sc1');
    expect(await lc.cli(['run', '-d', '--bundle', b.dir, 'sc1'])).toMatchObject({ status: 0, stderr: '' });
    const probe = await lc.cli(['exec', 'sc1', '/bin/probe']);
    expect(JSON.parse(probe.stdout).status).toMatchObject({ Seccomp: '2', Seccomp_filters: '1' });
    const mk = await lc.cli(['exec', 'sc1', 'mkdir', '/tmp/x']);
    expect(mk.status).toBe(1);
    expect(mk.stderr).toContain(ENOMSG_TEXT);
  });

  it('exec uses the filter and process the container was created with, whatever config.json says later; an older record reads the bundle', async () => {
    const b = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => {
        c.linux.seccomp = allowBut({ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOMSG });
        c.process.env.push('MARK=created');
      },
    });
    const id = lc.track('sc-create');
    const configPath = path.join(b.dir, 'config.json');
    expect(await lc.cli(['create', '--bundle', b.dir, id])).toMatchObject({ status: 0, stderr: '' });
    expect(await lc.cli(['start', id])).toMatchObject({ status: 0, stderr: '' });
    const underOriginal = async () => {
      const probe = await lc.cli(['exec', id, '/bin/probe']);
      expect(JSON.parse(probe.stdout).status).toMatchObject({ Seccomp: '2', Seccomp_filters: '1' });
      const mk = await lc.cli(['exec', id, 'sh', '-c', 'echo $MARK; mkdir /tmp/x']);
      expect(mk.status).toBe(1);
      expect(mk.stdout).toBe('created\n');
      expect(mk.stderr).toContain(ENOMSG_TEXT);
    };
    // A config without the filter, and with another environment.
    const changed = JSON.parse(fs.readFileSync(configPath, 'utf8'));
    delete changed.linux.seccomp;
    changed.process.env = changed.process.env.map((e: string) => (e === 'MARK=created' ? 'MARK=changed' : e));
    fs.writeFileSync(configPath, JSON.stringify(changed));
    await underOriginal();
    fs.rmSync(configPath);
    await underOriginal();
    // A record written before tsbox kept these: exec reads the bundle.
    fs.writeFileSync(configPath, JSON.stringify(changed));
    const stateFile = path.join(lc.root, id, 'state.json');
    const record = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
    expect(record.exec.seccomp.defaultAction).toBe('SCMP_ACT_ALLOW');
    delete record.exec;
    fs.writeFileSync(stateFile, JSON.stringify(record));
    const old = await lc.cli(['exec', id, 'sh', '-c', 'echo $MARK; grep ^Seccomp: /proc/self/status; mkdir /tmp/y && echo made']);
    expect(old).toMatchObject({ status: 0, stderr: '' });
    expect(old.stdout.split('\n').map((l) => l.replace(/\s+/g, ' '))).toEqual(['changed', 'Seccomp: 0', 'made', '']);
  });

  it('create hands the listener to the agent; the process started later is answered by it', async () => {
    const dir = lc.scratch();
    const sock = path.join(dir, 'agent.sock');
    const agent = spawnProc(buildSeccompAgent(), [sock]);
    await agent.stdout.waitFor('listening\n');
    const b = lc.bundle({
      args: ['sh', '-c', 'echo pid=$$ > /tmp/out'],
      mutate: (c) =>
        (c.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ALLOW',
          listenerPath: sock,
          syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }],
        }),
    });
    lc.track('sc2');
    expect(await lc.cli(['create', '--bundle', b.dir, 'sc2'])).toMatchObject({ status: 0, stderr: '' });
    // The agent has the state (status "creating") before start.
    const state = JSON.parse((await agent.stdout.waitFor(/\{.*\}\n/)).split('\n')[1]!);
    expect(state.state).toMatchObject({ id: 'sc2', status: 'creating' });
    expect(await lc.cli(['start', 'sc2'])).toMatchObject({ status: 0 });
    expect(await agent.exited).toMatchObject({ status: 0 });
    expect(fs.readFileSync(path.join(b.rootfs, 'tmp', 'out'), 'utf8')).toBe('pid=4242\n');
  });

  it('bad profiles and a missing agent are one-line errors naming the JSON path or the socket', async () => {
    const action = lc.bundle({ mutate: (c) => (c.linux.seccomp = allowBut({ names: ['mkdir'], action: 'SCMP_ACT_NOPE' })) });
    const op = lc.bundle({
      mutate: (c) => (c.linux.seccomp = allowBut({ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 0, op: 'SCMP_CMP_XX' }] })),
    });
    const arch = lc.bundle({ mutate: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_Z80'] }) });
    const flag = lc.bundle({ mutate: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_NOPE'] }) });
    const missing = path.join(lc.scratch(), 'none.sock');
    const agent = lc.bundle({
      mutate: (c) =>
        (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: missing, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }] }),
    });
    const results = await Promise.all([action, op, arch, flag, agent].map((b, i) => lc.cli(['run', '--bundle', b.dir, `sc-bad${i}`])));
    for (const r of results) {
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(results[0]!.stderr).toContain('linux.seccomp.syscalls[0].action: unknown seccomp action "SCMP_ACT_NOPE"');
    expect(results[1]!.stderr).toContain('linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator "SCMP_CMP_XX"');
    expect(results[2]!.stderr).toContain('linux.seccomp.architectures[0]: unknown seccomp architecture "SCMP_ARCH_Z80"');
    expect(results[3]!.stderr).toContain('linux.seccomp.flags[0]: unknown seccomp flag "SECCOMP_FILTER_FLAG_NOPE"');
    expect(results[4]!.stderr).toContain(`connect to seccomp listener (linux.seccomp.listenerPath) "${missing}": no such file or directory (ENOENT)`);
  });

  it('run with an agent that cannot be reached never starts the process (the init waits for the hand-over; 10 rounds of 4 at once)', async () => {
    const missing = path.join(lc.scratch(), 'none.sock');
    // The probe prints at once when it runs: a process that got ahead of
    // the failed hand-over shows on stdout.
    const b = lc.bundle({
      mutate: (c) => (c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: missing, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_NOTIFY' }] }),
    });
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all([0, 1, 2, 3].map((i) => lc.cli(['run', '--bundle', b.dir, `sc-race${round}-${i}`])));
      for (const r of results) {
        expect(r.status).toBe(1);
        expect(r.stdout, 'the process ran before the agent had its listener').toBe('');
        expect(r.stderr).toContain('seccomp listener (linux.seccomp.listenerPath)');
      }
    }
  });

  it('features reports seccomp and the libseccomp version', async () => {
    const r = await tsbox(['features']);
    expect(r.status).toBe(0);
    const f = JSON.parse(r.stdout);
    expect(f.linux.seccomp).toMatchObject({ enabled: true });
    expect(f.linux.seccomp.actions).toContain('SCMP_ACT_NOTIFY');
    expect(f.linux.seccomp.operators).toContain('SCMP_CMP_MASKED_EQ');
    expect(f.linux.seccomp.archs).toEqual(expect.arrayContaining(['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32']));
    expect(f.linux.seccomp.knownFlags).toContain('SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV');
    expect(f.linux.seccomp.supportedFlags).toEqual(['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW']);
    expect(f.annotations['io.github.seccomp.libseccomp.version']).toBe(libseccompHeaderVersion());
  });
});
