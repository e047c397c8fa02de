// docker 20.10 with --userns-remap and tsbox as a runtime: every container
// gets a user namespace whose root is the first of the remap user's
// subordinate ids, and its image layers and volumes are owned by them. What
// a container sees (ids, device nodes, capabilities) is compared with runc's
// under the same dockerd; the files it writes to a bind volume and a named
// volume are looked at from the host.
//
// `--userns-remap=default` would add a "dockremap" user to the host's
// /etc/passwd: instead the remap user is one of the sandbox's files (passwd,
// group, subuid, subgid), bound over the host's only in dockerd's private
// mount namespace (see startDockerd's binds), and named as user:group.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  findExecutable,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type EngineSandbox,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'unshare', 'chroot', 'tar']);
const hasRunc = findExecutable('runc') !== undefined;

/** The remap user (its own uid is never used by docker) and its subordinate ids. */
const REMAP_UID = 250000 + Math.floor(Math.random() * 40000);
const REMAP = `tsboxdr${REMAP_UID}`;
const SUB = 2_000_000 + Math.floor(Math.random() * 1000) * 65536;

describe.skipIf(reason !== undefined)(suiteTitle('docker --userns-remap with tsbox as a runtime', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker-userns', async (sandbox) => {
    sb = sandbox;
    const etc = sb.mkdir('etc');
    const file = (name: string, text: string) => {
      fs.writeFileSync(path.join(etc, name), text, { mode: 0o644 });
      return path.join(etc, name);
    };
    const binds = {
      '/etc/passwd': file('passwd', `${fs.readFileSync('/etc/passwd', 'utf8')}${REMAP}:x:${REMAP_UID}:${REMAP_UID}::/nonexistent:/bin/false\n`),
      '/etc/group': file('group', `${fs.readFileSync('/etc/group', 'utf8')}${REMAP}:x:${REMAP_UID}:\n`),
      '/etc/subuid': file('subuid', `${REMAP}:${SUB}:65536\n`),
      '/etc/subgid': file('subgid', `${REMAP}:${SUB}:65536\n`),
    };
    return (dk = await startDockerd(sb, { flags: [`--userns-remap=${REMAP}:${REMAP}`], binds }));
  }, 'docker rm --force');

  const RUN = (runtime: string) => ['run', '--runtime', runtime, '--network', 'none'];
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';
  /** docker prints this for --network none with ip_forward off; not the container's. */
  const clean = (stderr: string) => stderr.replace(/^WARNING: IPv4 forwarding is disabled.*\n/m, '');

  async function runDetached(script: string, extra: string[] = []): Promise<{ name: string; id: string; pid: number }> {
    const name = sb.unique('du');
    const r = await dk.docker([...RUN('tsbox'), '-d', '--name', name, ...extra, dk.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const info = JSON.parse((await dk.docker(['inspect', name])).stdout)[0] as { Id: string; State: { Pid: number } };
    await expectRunByTsbox(sb, dk.tsboxRootOf(info.Id), info.Id, info.State.Pid);
    return { name, id: info.Id, pid: info.State.Pid };
  }

  it('run: root inside is the first subordinate id on the host; exit code and output pass through', TEST_TIMEOUT, async () => {
    const c = await runDetached(`cat /proc/self/uid_map; ${UNTIL_TERM}`);
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(new RegExp(`\\nUid:\\s+${SUB}\\s+${SUB}\\s+${SUB}\\s+${SUB}\\n`));
    expect((await dk.docker(['logs', c.name])).stdout.trim().split(/\s+/)).toEqual(['0', String(SUB), '65536']);
    const r = await dk.docker([...RUN('tsbox'), '--rm', dk.image, 'sh', '-c', 'id -u; exit 4']);
    expect({ ...r, stderr: clean(r.stderr) }).toMatchObject({ status: 4, stdout: '0\n', stderr: '' });
  });

  it.skipIf(!hasRunc)('run: ids, device nodes, capabilities and the image\'s owners as under runc', TEST_TIMEOUT, async () => {
    const probe = 'id; cat /proc/self/uid_map /proc/self/gid_map; ls -ln /dev/null; ls -lnd / /bin/busybox | tr -s " " | cut -d" " -f1,3,4; grep -E "^Cap(Eff|Bnd)" /proc/self/status; ls /dev | tr "\\n" " "';
    const seen: Record<string, string> = {};
    for (const runtime of ['tsbox', 'runc']) {
      const r = await dk.docker([...RUN(runtime), '--rm', dk.image, 'sh', '-c', probe]);
      expect({ ...r, stderr: clean(r.stderr) }, runtime).toMatchObject({ status: 0, stderr: '' });
      seen[runtime] = r.stdout;
    }
    expect(seen.tsbox).toBe(seen.runc);
  });

  // The shim's pipes belong to the remapped root (containerd makes them so),
  // mapped in the container: both runtimes give them to the user.
  it.skipIf(!hasRunc)('--user 1000: the process reopens its stdio through /dev/stdout, its pipes its own, as under runc', TEST_TIMEOUT, async () => {
    const probe = 'echo via-path > /dev/stdout 2>/dev/null; echo "status $?"; stat -L -c %u /proc/self/fd/1';
    const seen: Record<string, unknown> = {};
    for (const runtime of ['tsbox', 'runc']) {
      const r = await dk.docker([...RUN(runtime), '--rm', '--user', '1000:1000', dk.image, 'sh', '-c', probe]);
      seen[runtime] = { status: r.status, stdout: r.stdout };
    }
    expect(seen.tsbox).toEqual(seen.runc);
    expect(seen.tsbox).toEqual({ status: 0, stdout: 'via-path\nstatus 0\n1000\n' });
  });

  it('volumes: what the container writes is owned by the remapped ids on the host', TEST_TIMEOUT, async () => {
    const vol = sb.mkdir(sb.unique('vol'));
    fs.chownSync(vol, SUB, SUB);
    const named = sb.unique('named');
    const c = await runDetached(UNTIL_TERM, ['-v', `${vol}:/vol`, '-v', `${named}:/named`]);
    const e = await dk.docker(['exec', c.name, 'sh', '-c', 'echo a > /vol/root-file; echo b > /named/f; mkdir /vol/d && chown 1000:1000 /vol/d; ls -lnd /named | tr -s " " | cut -d" " -f3,4']);
    expect({ ...e, stderr: clean(e.stderr) }).toMatchObject({ status: 0, stdout: '0 0\n', stderr: '' });
    const owner = (p: string) => {
      const st = fs.statSync(p);
      return [st.uid, st.gid];
    };
    expect(owner(path.join(vol, 'root-file'))).toEqual([SUB, SUB]);
    expect(owner(path.join(vol, 'd'))).toEqual([SUB + 1000, SUB + 1000]);
    const mountpoint = (await dk.docker(['volume', 'inspect', '--format', '{{.Mountpoint}}', named])).stdout.trim();
    expect(mountpoint).toContain(`/${SUB}.${SUB}/volumes/`);
    expect(owner(path.join(mountpoint, 'f'))).toEqual([SUB, SUB]);
    await dk.docker(['rm', '--force', c.name]);
    expect(await dk.docker(['volume', 'rm', named])).toMatchObject({ status: 0 });
  });

  it('exec (stdin, exit code, -u), top, stop, rm', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const e = await dk.docker(['exec', '-i', c.name, 'sh', '-c', 'cat > /tmp/in; wc -c < /tmp/in; exit 3'], { input: 'twelve bytes' });
    expect(e).toMatchObject({ status: 3, stdout: '12\n', stderr: '' });
    // An exec'd process of another user reopens its stdio too (given to its uid, as runc does).
    expect(await dk.docker(['exec', '-u', '1000:1000', c.name, 'sh', '-c', 'id; echo via-path > /dev/stdout'])).toMatchObject({ status: 0, stdout: 'uid=1000 gid=1000 groups=1000\nvia-path\n' });
    const top = await dk.docker(['top', c.name, '-o', 'uid,pid,args']);
    expect(top, top.stderr).toMatchObject({ status: 0 });
    expect(top.stdout).toMatch(new RegExp(`^${SUB}\\s+${c.pid}\\s+sh -c trap`, 'm'));
    const t0 = Date.now();
    expect(await dk.docker(['stop', '--time', '20', c.name])).toMatchObject({ status: 0 });
    expect(Date.now() - t0, 'stop waited for its timeout').toBeLessThan(10_000);
    expect((await dk.docker(['inspect', '--format', '{{.State.ExitCode}}', c.name])).stdout).toBe('0\n');
    await expectProcessGone(c.pid);
    expect(await dk.docker(['rm', c.name])).toMatchObject({ status: 0 });
    await waitUntil('tsbox to forget the container', () => dk.tsboxRoots().every((r) => !fs.existsSync(path.join(r, c.id))), 10_000).catch(() => undefined);
    for (const root of dk.tsboxRoots()) await expectTsboxStateGone(root, c.id);
  });

  it('--userns=host: a container opts out of the remap and runs in the host\'s user namespace', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM, ['--userns=host']);
    expect(fs.readlinkSync(`/proc/${c.pid}/ns/user`)).toBe(fs.readlinkSync('/proc/self/ns/user'));
    expect(fs.readFileSync(`/proc/${c.pid}/status`, 'utf8')).toMatch(/\nUid:\s+0\s+0\s+0\s+0\n/);
  });
});
