// `docker build` with the classic builder (DOCKER_BUILDKIT=0) on a dockerd
// whose default runtime is tsbox: each RUN step is a container dockerd
// creates through containerd with the default runtime (a build has no
// --runtime flag). The same Dockerfile is built with runc as the default
// runtime (dockerd reloads `default-runtime` from its config file on
// SIGHUP), and the two images must say the same when run. docker 20.10
// passes the default runtime's state root as <exec-root>/runtime-runc/moby
// whatever its name: the proof that tsbox ran a step is its state.json
// there (tsbox's layout) with a live init while the step sleeps.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  expectRunByTsbox,
  processStartTime,
  readTsboxRecord,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type TsboxRecord,
  MULTI_STAGE_DOCKERFILE,
  MULTI_STAGE_OUTPUT,
} from '../helpers/engines.js';
import type { Started } from '../helpers/cli.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason(['dockerd', DOCKER_CLI, 'containerd', 'containerd-shim-runc-v2', 'runc', 'unshare', 'chroot', 'tar']);
const BUILD_TIMEOUT = { timeout: 120_000 };

describe.skipIf(reason !== undefined)(suiteTitle('docker build (classic builder) with tsbox as dockerd\'s default runtime', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;

  useEngineSuite('docker-build', async (sandbox) => {
    sb = sandbox;
    return (dk = await startDockerd(sb, { config: { 'default-runtime': 'tsbox' } }));
  }, 'docker rm --force');

  /** A build context with this Dockerfile (FROM the suite's busybox image). */
  function context(name: string, dockerfile: string): string {
    const dir = sb.mkdir('contexts', name);
    fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile.replaceAll('$IMAGE', dk.image));
    return dir;
  }

  /** `docker build`: the classic builder (docker 20.10's default; the helpers drop DOCKER_* from the client's environment). */
  function build(tag: string, dir: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return dk.docker(['build', '--no-cache', '-t', tag, dir], { timeoutMs: 60_000 });
  }

  /** Makes `name` dockerd's default runtime: daemon.json rewritten, then SIGHUP (dockerd reloads default-runtime). */
  async function defaultRuntime(name: 'tsbox' | 'runc'): Promise<void> {
    const config = JSON.parse(fs.readFileSync(dk.daemonJson, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(dk.daemonJson, JSON.stringify({ ...config, 'default-runtime': name }, null, 2) + '\n');
    process.kill(dk.pid, 'SIGHUP');
    await waitUntil(`dockerd's default runtime to be ${name}`, async () => (await dk.docker(['info', '--format', '{{.DefaultRuntime}}'])).stdout.trim() === name, 10_000);
  }

  /** The one live tsbox container under dockerd's exec root, once there is one. */
  function liveTsboxContainer(build: Started): Promise<TsboxRecord & { root: string }> {
    let ended = false;
    void build.exited.then(() => (ended = true));
    return waitUntil('a RUN step\'s container under tsbox', () => {
      if (ended) throw new Error(`the build ended first: ${JSON.stringify({ stdout: build.stdout, stderr: build.stderr, roots: dk.tsboxRoots() })}`);
      for (const root of dk.tsboxRoots()) {
        for (const id of EngineSandbox.stateEntries(root)) {
          const rec = readTsboxRecord(root, id);
          if (rec && processStartTime(rec.pid) === rec.pidStartTime) return { ...rec, root };
        }
      }
      return false;
    }, 30_000);
  }

  it('RUN steps (ENV, WORKDIR, USER nobody, a multi-stage COPY --from) run under tsbox; docker run of the image shows what they made, as with runc', BUILD_TIMEOUT, async () => {
    const dir = context('multi', MULTI_STAGE_DOCKERFILE.replace('RUN echo built-in-first', 'RUN sleep 2 && echo built-in-first'));
    const started = dk.spawnDocker(['build', '--no-cache', '-t', 'localhost/built:tsbox', dir]);
    // Proof from outside: the first RUN step's container is tsbox's (its
    // state.json, its live init) while the step sleeps.
    const rec = await liveTsboxContainer(started);
    await expectRunByTsbox(sb, rec.root, rec.id, rec.pid);
    const r = await started.done;
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(r.stdout).toMatch(/^Step 10\/10 : CMD/m);
    const run = await dk.docker(['run', '--rm', '--network', 'none', 'localhost/built:tsbox']);
    expect(run, run.stderr).toMatchObject({ status: 0, stdout: MULTI_STAGE_OUTPUT });
    // runc, as dockerd's default runtime, builds the same image from the same Dockerfile.
    try {
      await defaultRuntime('runc');
      const byRunc = await build('localhost/built:runc', context('multi-runc', MULTI_STAGE_DOCKERFILE));
      expect(byRunc, byRunc.stderr).toMatchObject({ status: 0 });
      expect(await dk.docker(['run', '--rm', '--network', 'none', '--runtime', 'runc', 'localhost/built:runc'])).toMatchObject({ status: 0, stdout: MULTI_STAGE_OUTPUT });
    } finally {
      await defaultRuntime('tsbox');
    }
  });

  it('a RUN that fails: the build stops with its exit code (the client exits with it too) and message (as with runc), later steps do not run; its container is left exited (no --force-rm)', BUILD_TIMEOUT, async () => {
    const failing = ['FROM $IMAGE', 'RUN echo made > /before', 'RUN echo "step failed here" >&2; exit 3', 'RUN echo never > /after'].join('\n') + '\n';
    const outcome = async (tag: string) => {
      const r = await build(tag, context(tag.replace(/\W/g, '-'), failing));
      const left = (await dk.docker(['ps', '--all', '--filter', 'status=exited', '--format', '{{.ID}} {{.Status}}'])).stdout.trim();
      await dk.removeAll();
      return { status: r.status, failed: r.stderr.trim(), said: r.stdout.includes('step failed here'), steps: r.stdout.match(/^Step \d\/4/gm), left: left.replace(/^\w+ /, '').replace(/\) .*/, ')') };
    };
    const byTsbox = await outcome('localhost/fails:tsbox');
    expect(byTsbox).toEqual({
      status: 3,
      failed: 'The command \'/bin/sh -c echo "step failed here" >&2; exit 3\' returned a non-zero code: 3',
      said: true,
      steps: ['Step 1/4', 'Step 2/4', 'Step 3/4'],
      left: 'Exited (3)',
    });
    try {
      await defaultRuntime('runc');
      expect(await outcome('localhost/fails:runc')).toEqual(byTsbox);
    } finally {
      await defaultRuntime('tsbox');
    }
  });
});
