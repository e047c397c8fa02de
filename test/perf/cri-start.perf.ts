// The benchmark's containerd CRI StartContainer figure (issue 16): one
// containerd with the CRI plugin and two runtime handlers, tsbox and runc
// (../helpers/cri.ts, as the CRI tests start it: its own sockets, state and
// namespaces in a sandbox), one pod per handler, and containers created,
// started, stopped and removed alternately in each; the time of each
// StartContainer call is what the kubelet waits. scripts/bench.js runs this
// file in its full pass and reads the JSON it writes to
// $TSBOX_CRI_BENCH_OUT: { tsbox: ms[], runc: ms[] } or { skipped: why }.

import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HANDLER, RUNC_HANDLER, startCriContainerd, type Cri } from '../helpers/cri.js';
import { CLEAN_TEARDOWN, EngineSandbox, HOOK_TIMEOUT, skipReason } from '../helpers/engines.js';

const out = process.env.TSBOX_CRI_BENCH_OUT;
const runs = Number(process.env.TSBOX_CRI_BENCH_N || 20);
const warmups = 2;
const reason = skipReason(['containerd', 'ctr', 'containerd-shim-runc-v2', 'runc', 'unshare', 'chroot', 'tar']);
if (reason !== undefined && out) fs.writeFileSync(out, JSON.stringify({ skipped: reason }));

describe.skipIf(reason !== undefined)('containerd CRI StartContainer: tsbox and runc as the runtime handler, alternately', () => {
  let sb: EngineSandbox | undefined;
  let cri: Cri;

  beforeAll(async () => {
    sb = new EngineSandbox('cri-bench');
    cri = await startCriContainerd(sb, { runc: true });
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    if (!sb) return;
    await cri?.removeAll();
    cri?.close();
    expect(await sb.teardown()).toEqual(CLEAN_TEARDOWN);
  }, HOOK_TIMEOUT);

  it(`${runs} StartContainer calls per handler`, async () => {
    const pods: Record<string, { id: string; config: Record<string, unknown> }> = {};
    for (const handler of [HANDLER, RUNC_HANDLER]) {
      const config = {
        metadata: { name: `bench-${handler}`, uid: `uid-bench-${handler}`, namespace: 'tsbox-bench', attempt: 0 },
        hostname: '',
        linux: { cgroup_parent: cri.cgroupParent, security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
      };
      const r = await cri.call<{ pod_sandbox_id: string }>('RunPodSandbox', { config, runtime_handler: handler });
      pods[handler] = { id: r.pod_sandbox_id, config };
    }
    const times: Record<string, number[]> = { [HANDLER]: [], [RUNC_HANDLER]: [] };
    for (let i = 0; i < warmups + runs; i++) {
      for (const handler of i % 2 === 0 ? [HANDLER, RUNC_HANDLER] : [RUNC_HANDLER, HANDLER]) {
        const pod = pods[handler]!;
        const { container_id: id } = await cri.call<{ container_id: string }>('CreateContainer', {
          pod_sandbox_id: pod.id,
          sandbox_config: pod.config,
          config: {
            metadata: { name: `c${i}`, attempt: 0 },
            image: { image: cri.image },
            command: ['sleep', '3600'],
            linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
          },
        });
        const t0 = performance.now();
        await cri.call('StartContainer', { container_id: id });
        const ms = performance.now() - t0;
        if (i >= warmups) times[handler]!.push(ms);
        // timeout 0: SIGKILL at once.
        await cri.call('StopContainer', { container_id: id, timeout: 0 });
        await cri.call('RemoveContainer', { container_id: id });
      }
    }
    if (out) fs.writeFileSync(out, JSON.stringify({ tsbox: times[HANDLER], runc: times[RUNC_HANDLER] }));
    expect(times[HANDLER]).toHaveLength(runs);
  });
});
