// `podman build --runtime /abs/tsbox` (podman 4.3, buildah 1.28 inside):
// buildah runs each RUN step through the OCI runtime it is given (isolation
// "oci"): `create --bundle B --pid-file B/pid ID` with the step's stdio as
// inherited pipes, `start`, `state`, `delete`, with no --root (tsbox's
// default root, which the helper's namespace moves into the sandbox) and no
// --log. The same Dockerfiles are built with runc and must say the same.
//
// buildah passes every default capability as ambient and none as
// inheritable; the kernel raises none of them (runc and tsbox alike: CapAmb
// 0). tsbox says so in a warning on its stderr, which buildah reads as the
// step's stderr: the build's output has that line for each RUN step run as
// root; runc's has none. That is the only difference, and the tests allow exactly it.
//
// podman's own infra image (podman-pause) is built by buildah too, with a
// COPY and no RUN (no runtime involved). It fails here with "getwd: no such
// file or directory" when podman runs through nsenter --wd (the helpers'
// way): nsenter opens that directory before it enters the mount namespace,
// so the cwd is on a mount of the host's namespace and getcwd(2) cannot
// reach it (ENOENT). With $PWD naming the same directory Go's os.Getwd takes
// it and the build works: the environment's, not tsbox's or runc's.
//
// Not here: `podman build --pid private` (runc too; also seen with
// --ipc host, --uts host, --userns host and --cgroupns private given
// together) sets up podman's default network with netavark in the HOST's
// namespace despite --network none (ip_forward 1, NETAVARK chains left
// behind); and --userns-uid-map
// fails to create its step with runc and tsbox alike (EACCES: the mapped
// root cannot reach the rootfs under the sandbox's 0700 directory).

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EngineSandbox,
  TSBOX,
  expectRunByTsbox,
  skipReason,
  startPodman,
  suiteTitle,
  useEngineSuite,
  waitForTsboxContainer,
  type Podman,
  MULTI_STAGE_DOCKERFILE,
  MULTI_STAGE_OUTPUT,
} from '../helpers/engines.js';
import type { CliResult } from '../helpers/cli.js';

const reason = skipReason(['podman', 'conmon', 'runc', 'nsenter', 'unshare', 'chroot', 'tar']);
const BUILD_TIMEOUT = { timeout: 120_000 };
const RUNC = '/usr/bin/runc';

/** The warning tsbox prints for buildah's ambient set, once per RUN step (see above). */
const AMBIENT_WARNING = /^tsbox: warning: process\.capabilities\.ambient: CAP_[A-Z_, ]+ not raised: an ambient capability must also be permitted and inheritable\n/gm;

describe.skipIf(reason !== undefined)(suiteTitle('podman build with tsbox as the runtime of its RUN steps', reason), () => {
  let sb: EngineSandbox;
  let pm: Podman;

  useEngineSuite('podman-build', async (sandbox) => {
    sb = sandbox;
    return (pm = await startPodman(sb));
  }, 'podman rm --all');

  function podman(args: readonly string[], env: Record<string, string> = pm.env): Promise<CliResult> {
    const argv = pm.argv(args);
    return sb.run(argv[0]!, argv.slice(1), env, { timeoutMs: 60_000 });
  }

  /** A build context with this Dockerfile (FROM the suite's busybox image). */
  function context(name: string, dockerfile: string): string {
    const dir = sb.mkdir('contexts', name);
    fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile.replaceAll('$IMAGE', pm.image));
    return dir;
  }

  /** `podman build` flags: --runtime for RUN steps (a path), the limits root may set here, no network. */
  function buildArgs(runtime: string, tag: string, dir: string): string[] {
    return ['build', '--no-cache', '--runtime', runtime, ...pm.runFlags, '-t', tag, dir];
  }

  it('RUN steps (ENV, WORKDIR, USER nobody, a multi-stage COPY --from) run under tsbox; podman run of the image shows what they made, as with runc', BUILD_TIMEOUT, async () => {
    const argv = pm.argv(buildArgs(TSBOX, 'localhost/built:tsbox', context('multi', MULTI_STAGE_DOCKERFILE.replace('RUN echo built-in-first', 'RUN sleep 2 && echo built-in-first'))));
    const started = sb.spawn(argv[0]!, argv.slice(1), pm.env, 60_000);
    // Proof from outside: the first RUN step's container is tsbox's while it sleeps.
    const rec = await waitForTsboxContainer(pm.tsboxRoot, started);
    await expectRunByTsbox(sb, pm.tsboxRoot, rec.id, rec.pid);
    expect(rec.id).toMatch(/^buildah-buildah\d+$/);
    const byTsbox = await started.done;
    expect(byTsbox, byTsbox.stderr).toMatchObject({ status: 0 });
    // The two steps run as root (not the USER nobody one).
    expect(byTsbox.stderr.match(AMBIENT_WARNING)).toHaveLength(2);
    expect(byTsbox.stderr.replace(AMBIENT_WARNING, '')).toBe('');
    expect(await podman(['run', '--rm', ...pm.runFlags, 'localhost/built:tsbox'])).toMatchObject({ status: 0, stdout: MULTI_STAGE_OUTPUT });

    const byRunc = await podman(buildArgs(RUNC, 'localhost/built:runc', context('multi-runc', MULTI_STAGE_DOCKERFILE)));
    expect(byRunc, byRunc.stderr).toMatchObject({ status: 0, stderr: '' });
    expect(await podman(['run', '--rm', ...pm.runFlags, '--runtime', RUNC, 'localhost/built:runc'])).toMatchObject({ status: 0, stdout: MULTI_STAGE_OUTPUT });
    // Nothing of the steps is left in tsbox's state.
    expect(EngineSandbox.stateEntries(pm.tsboxRoot)).toEqual([]);
  });

  it('a RUN that fails: the build stops with its exit code, the step\'s stderr and buildah\'s message, as with runc; nothing left in tsbox\'s state', BUILD_TIMEOUT, async () => {
    const failing = ['FROM $IMAGE', 'RUN echo "step failed here" >&2; exit 3', 'RUN echo never'].join('\n') + '\n';
    const byTsbox = await podman(buildArgs(TSBOX, 'localhost/fails:tsbox', context('fails', failing)));
    const byRunc = await podman(buildArgs(RUNC, 'localhost/fails:runc', context('fails-runc', failing)));
    const outcome = { status: 3, stderr: 'step failed here\nError: building at STEP "RUN echo "step failed here" >&2; exit 3": while running runtime: exit status 3\n' };
    expect(byRunc).toMatchObject(outcome);
    expect({ status: byTsbox.status, stderr: byTsbox.stderr.replace(AMBIENT_WARNING, '') }).toEqual(outcome);
    expect(byTsbox.stdout).not.toMatch(/never/);
    expect(EngineSandbox.stateEntries(pm.tsboxRoot)).toEqual([]);
  });

  it('RUN --mount: tmpfs, a read-only bind of a context file, a bind from an earlier stage, a cache kept between builds, a secret; none left in the image (as with runc)', BUILD_TIMEOUT, async () => {
    const dir = context('mounts', [
      'FROM $IMAGE AS first',
      'RUN echo in-first > /f',
      'FROM $IMAGE',
      'RUN --mount=type=tmpfs,target=/scratch grep " /scratch " /proc/mounts && touch /scratch/x',
      'RUN --mount=type=bind,source=input.txt,target=/in.txt cat /in.txt && ! touch /in.txt 2>/dev/null && echo read-only',
      'RUN --mount=type=bind,from=first,source=/f,target=/ff cat /ff',
      'RUN --mount=type=cache,target=/cache echo c >> /cache/n && echo cache-lines-$(wc -l < /cache/n)',
      'RUN --mount=type=secret,id=s cat /run/secrets/s',
      'RUN for p in /scratch /in.txt /ff /cache /run/secrets/s; do [ -e $p ] && echo left $p; done; true',
    ].join('\n') + '\n');
    fs.writeFileSync(path.join(dir, 'input.txt'), 'from-context\n');
    fs.writeFileSync(sb.path('secret'), 'sekrit\n');
    const steps = async (runtime: string) => {
      const r = await podman([...buildArgs(runtime, `localhost/mounts:${path.basename(runtime)}`, dir).slice(0, -1), '--secret', `id=s,src=${sb.path('secret')}`, dir]);
      expect(r, r.stderr).toMatchObject({ status: 0 });
      expect(r.stderr.replace(AMBIENT_WARNING, '')).toBe('');
      // The steps' own lines: no STEP headers, no layer ids.
      return r.stdout.split('\n').filter((l) => !/^(\[\d\/\d\] (STEP|COMMIT)|-->|Successfully|[0-9a-f]{64}$)/.test(l) && l);
    };
    const byTsbox = await steps(TSBOX);
    expect(byTsbox).toEqual(['tmpfs /scratch tmpfs rw,relatime 0 0', 'from-context', 'read-only', 'in-first', 'cache-lines-1', 'sekrit']);
    // runc's build finds the cache tsbox's step wrote into.
    expect(await steps(RUNC)).toEqual(byTsbox.map((l) => l.replace('cache-lines-1', 'cache-lines-2')));
  });

  it('build --memory 64m --shm-size 16m --cap-drop ALL --cap-add CHOWN: the RUN step has that limit, /dev/shm and capability set, as with runc', BUILD_TIMEOUT, async () => {
    const dir = context('limits', [
      'FROM $IMAGE',
      'RUN cat /sys/fs/cgroup/memory/memory.limit_in_bytes; grep " /dev/shm " /proc/mounts; grep -E "^Cap(Eff|Bnd)" /proc/self/status; ! touch /made 2>/dev/null && echo no-dac-override',
    ].join('\n') + '\n');
    const flags = ['--memory', '64m', '--shm-size', '16m', '--cap-drop', 'ALL', '--cap-add', 'CHOWN'];
    const step = async (runtime: string) => {
      const r = await podman([...buildArgs(runtime, `localhost/limits:${path.basename(runtime)}`, dir).slice(0, 1), ...flags, ...buildArgs(runtime, `localhost/limits:${path.basename(runtime)}`, dir).slice(1)]);
      expect(r, r.stderr).toMatchObject({ status: 0 });
      expect(r.stderr.replace(AMBIENT_WARNING, '')).toBe('');
      return r.stdout.split('\n').filter((l) => !/^(STEP|-->|COMMIT|Successfully|[0-9a-f]{64}$)/.test(l) && l);
    };
    const byTsbox = await step(TSBOX);
    expect(byTsbox).toEqual([
      String(64 * 1024 * 1024),
      'shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=16384k 0 0',
      'CapEff:\t0000000000000001',
      'CapBnd:\t0000000000000001',
      'no-dac-override',
    ]);
    expect(await step(RUNC)).toEqual(byTsbox);
  });

  it('build -v SRC:/vol:z,U,nocopy: the RUN step reads and writes the host directory; buildah leaves the engine\'s options "z", "U" and "nocopy" in the bind\'s options, which tsbox ignores as runc does', BUILD_TIMEOUT, async () => {
    const vol = sb.mkdir('build-volume');
    fs.writeFileSync(path.join(vol, 'in'), 'from-the-host\n');
    const dir = context('volume', 'FROM $IMAGE\nRUN cat /vol/in && echo from-the-step > /vol/out && grep " /vol " /proc/mounts | cut -d" " -f2\n');
    const outcome: Record<string, unknown> = {};
    for (const runtime of [TSBOX, RUNC]) {
      fs.rmSync(path.join(vol, 'out'), { force: true });
      const args = buildArgs(runtime, `localhost/volume:${path.basename(runtime)}`, dir);
      const r = await podman([...args.slice(0, 1), '-v', `${vol}:/vol:z,U,nocopy`, ...args.slice(1)]);
      outcome[runtime] = {
        status: r.status,
        stderr: r.stderr.replace(AMBIENT_WARNING, ''),
        lines: r.stdout.split('\n').filter((l) => !/^(STEP|-->|COMMIT|Successfully|[0-9a-f]{64}$)/.test(l) && l),
        written: fs.existsSync(path.join(vol, 'out')) ? fs.readFileSync(path.join(vol, 'out'), 'utf8') : 'nothing',
      };
    }
    const expected = { status: 0, stderr: '', lines: ['from-the-host', '/vol'], written: 'from-the-step\n' };
    expect(outcome).toEqual({ [TSBOX]: expected, [RUNC]: expected });
  });

  it('pod create builds podman\'s own infra image with buildah: "getwd" fails without $PWD (nsenter --wd, see above), works with it', BUILD_TIMEOUT, async () => {
    const without = await podman(['pod', 'create', '--network', 'none', '--name', sb.unique('pod')]);
    expect(without).toMatchObject({ status: 125, stderr: expect.stringMatching(/building local pause image: .*determining current working directory: getwd: no such file or directory/) });
    const pod = sb.unique('pod');
    const withPwd = await podman(['pod', 'create', '--network', 'none', '--name', pod], { ...pm.env, PWD: sb.dir });
    expect(withPwd, withPwd.stderr).toMatchObject({ status: 0 });
    expect((await podman(['images', '--format', '{{.Repository}}'])).stdout).toMatch(/^localhost\/podman-pause$/m);
    expect(await podman(['pod', 'rm', '--force', pod])).toMatchObject({ status: 0 });
  });
});
