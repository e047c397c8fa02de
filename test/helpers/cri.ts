// containerd 1.6's CRI plugin (io.containerd.grpc.v1.cri) with tsbox as the
// runc binary of its runtime handler, and a small client of the CRI gRPC API
// (the calls in cri-runtime-v1.proto): the path the kubelet takes to a
// RuntimeClass whose handler sets BinaryName. The daemon runs as the other
// engines do (./engines.ts): state in the sandbox, private mount and network
// namespaces, /run and /var/lib bound to sandbox directories. No registry is
// reachable, so the one image (busybox with a /pause script, used as the
// sandbox image and by the containers) is built here and imported with
// `ctr -n k8s.io images import`.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { expect } from 'vitest';
import { containerdConfig, expectRunByTsbox, TSBOX, type EngineSandbox } from './engines.js';

/** The CRI's namespace in containerd, and so the last part of the root the shim gives tsbox. */
export const CRI_NAMESPACE = 'k8s.io';
/** The pod network (in containerd's network namespace) and its bridge's address. */
export const POD_SUBNET = '10.231.0.0/24';
export const POD_GATEWAY = '10.231.0.1';

/** Debian's containernetworking-plugins. */
export const CNI_BIN = '/usr/lib/cni';

/** Why pods cannot have a network of their own here, or undefined when they can. */
export function podNetworkSkipReason(): string | undefined {
  const missing = ['bridge', 'host-local'].filter((p) => !fs.existsSync(path.join(CNI_BIN, p)));
  return missing.length > 0 ? `no CNI plugin ${missing.join(', ')} in ${CNI_BIN} (Debian: containernetworking-plugins)` : undefined;
}

/** The runtime handler (RuntimeClass handler) that names tsbox. */
export const HANDLER = 'tsbox';
/** The handler that runs runc, when startCriContainerd is asked for it. */
export const RUNC_HANDLER = 'runc';

/** CAP_SYS_RESOURCE in this process's effective set (a pod sandbox asks for oom_score_adj -998, which needs it). */
export function hasCapSysResource(): boolean {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('CapEff:'));
  return ((BigInt(`0x${line!.split(/\s+/)[1]}`) >> 24n) & 1n) === 1n;
}

// ---- the client ---------------------------------------------------------------

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

/** One CRI call: the request object (snake_case fields) in, the response out; a failed call rejects with the daemon's error text. */
export type CriCall = <T = Record<string, unknown>>(method: string, request: object, timeoutMs?: number) => Promise<T>;

export interface CriClient {
  call: CriCall;
  close(): void;
}

export function criClient(socket: string): CriClient {
  const def = protoLoader.loadSync(path.join(__dirname, 'cri-runtime-v1.proto'), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    runtime: { v1: { RuntimeService: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client } };
  };
  const client = new pkg.runtime.v1.RuntimeService(`unix://${socket}`, grpc.credentials.createInsecure());
  const call: CriCall = (method, request, timeoutMs = 60_000) =>
    new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, Unary>)[method];
      if (!fn) throw new Error(`no CRI method ${method} in cri-runtime-v1.proto`);
      fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new Error(`${method}: ${err.details || err.message}`));
        else resolve(res as never);
      });
    });
  return { call, close: () => client.close() };
}

// ---- the image ------------------------------------------------------------------

/**
 * A `docker save` style tar (manifest.json, the config, one layer) of the
 * busybox rootfs plus /pause: a pod sandbox's init that only waits (and, as
 * pid 1 of a shared-pid pod, reaps what is reparented to it); with `user`,
 * that USER and the /etc/passwd and /etc/group that resolve it.
 */
function buildImageTar(sb: EngineSandbox, ref: string, user?: ImageUser): string {
  const { rootfs } = sb.buildRootfs();
  fs.writeFileSync(path.join(rootfs, 'pause'), '#!/bin/sh\ntrap "exit 0" TERM INT\nwhile :; do sleep 3600 & wait; done\n', { mode: 0o755 });
  if (user) {
    fs.writeFileSync(path.join(rootfs, 'etc', 'passwd'), user.passwd);
    fs.writeFileSync(path.join(rootfs, 'etc', 'group'), user.group);
  }
  const dir = sb.mkdir('cri', 'image', sb.unique('layers'));
  const layer = path.join(dir, 'layer.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', layer, '.'], { stdio: 'pipe' });
  // The rootfs directory is the sandbox's one: the next image starts without them.
  if (user) for (const f of ['passwd', 'group']) fs.rmSync(path.join(rootfs, 'etc', f));
  const diffId = `sha256:${crypto.createHash('sha256').update(fs.readFileSync(layer)).digest('hex')}`;
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  const config = { architecture: arch, os: 'linux', config: { Cmd: ['/pause'], ...(user && { User: user.name }) }, rootfs: { type: 'layers', diff_ids: [diffId] } };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: [ref], Layers: ['layer.tar'] }]));
  const tar = path.join(dir, 'image.tar');
  execFileSync('tar', ['-C', dir, '-cf', tar, 'manifest.json', 'config.json', 'layer.tar'], { stdio: 'pipe' });
  return tar;
}

// ---- the daemon -----------------------------------------------------------------

/** An image's USER (a name or uid[:gid]) and the files that resolve it. */
export interface ImageUser {
  name: string;
  passwd: string;
  group: string;
}

export interface Cri {
  /** The root the shim passes to tsbox: the handler's Root option + /k8s.io. */
  tsboxRoot: string;
  /** The sandbox and container image. */
  image: string;
  /** Parent cgroup of every pod (cgroupfs: /<parent>/<pod id>, then /<parent>/<container id>). */
  cgroupParent: string;
  /** Whether containerd was told to restrict_oom_score_adj (this root lacks CAP_SYS_RESOURCE). */
  restrictOomScoreAdj: boolean;
  /** containerd's pid (its mount namespace holds the pods' shm and the CRI's mounts). */
  pid: number;
  call: CriCall;
  /**
   * A directory of the sandbox made a shared mount point in containerd's
   * mount namespace (a private one: the host's propagation is never
   * changed), as a Bidirectional volume's host path must be; `release`
   * unmounts it and whatever was mounted below it.
   */
  sharedDir(name: string): Promise<{ dir: string; mountsBelow(): string[]; release(): Promise<void> }>;
  /** Imports the image again as `ref`, with `user` as its USER and those /etc/passwd and /etc/group. */
  importImage(ref: string, user: ImageUser): Promise<void>;
  /**
   * The host pid of a container's (or a pod's) init: from tsbox's state,
   * after checking that tsbox runs it (expectRunByTsbox), or from runc's
   * under the `runc` handler.
   */
  hostPid(handler: string, id: string): Promise<number>;
  /** Stops and removes every pod sandbox left (with its containers). */
  removeAll(): Promise<void>;
  close(): void;
}

/**
 * containerd with the CRI plugin on: its runtime handler `tsbox`
 * (io.containerd.runc.v2 with BinaryName bin/tsbox and Root in the sandbox;
 * with `runc`, a second handler `runc` running runc itself), the
 * sandbox image imported locally, AppArmor left alone (no profile is
 * loaded into the host's kernel), CNI configuration and state in the
 * sandbox. containerd runs in a network namespace of its own (only lo, as
 * dockerd with a bridge in ./engines.ts): pods with the node's network
 * (NamespaceMode NODE) share it, and a pod network's bridge, veths and
 * addresses are made there by the CNI plugins, never on the host. When this
 * root lacks CAP_SYS_RESOURCE, restrict_oom_score_adj is on, as on any node
 * where containerd runs so.
 */
export async function startCriContainerd(sb: EngineSandbox, { runc = false }: { runc?: boolean } = {}): Promise<Cri> {
  const base = sb.mkdir('cri');
  const sock = path.join(base, 'containerd.sock');
  const runtimeRoot = sb.mkdir('cri', 'tsbox');
  const cniConf = sb.mkdir('cri', 'cni-conf');
  // A pod network from Debian's CNI plugins: a bridge with host-local
  // addresses, in containerd's own network namespace (below).
  fs.writeFileSync(
    path.join(cniConf, '10-tsbox.conflist'),
    JSON.stringify({
      cniVersion: '0.4.0',
      name: 'tsbox-cri',
      plugins: [
        {
          type: 'bridge',
          bridge: 'tsbox-cni0',
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_SUBNET, gateway: POD_GATEWAY }]], dataDir: sb.mkdir('cri', 'cni-ipam') },
        },
      ],
    }),
  );
  const image = 'localhost/tsbox-pause:latest';
  const restrictOomScoreAdj = !hasCapSysResource();
  const q = (s: string) => JSON.stringify(s);
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  fs.writeFileSync(
    path.join(base, 'config.toml'),
    containerdConfig(base, sock, {
      cri: true,
      extra: [
        `[${cri}]`,
        `  sandbox_image = ${q(image)}`,
        `  restrict_oom_score_adj = ${restrictOomScoreAdj}`,
        '  disable_apparmor = true',
        '  enable_selinux = false',
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        `  default_runtime_name = ${q(HANDLER)}`,
        `[${cri}.containerd.runtimes.${HANDLER}]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.${HANDLER}.options]`,
        `  BinaryName = ${q(TSBOX)}`,
        `  Root = ${q(runtimeRoot)}`,
        // runc as a second handler beside tsbox, for the benchmark's side-by-side StartContainer (test/perf/).
        ...(runc
          ? [`[${cri}.containerd.runtimes.${RUNC_HANDLER}]`, '  runtime_type = "io.containerd.runc.v2"', `[${cri}.containerd.runtimes.${RUNC_HANDLER}.options]`, `  Root = ${q(sb.mkdir('cri', 'runc'))}`]
          : []),
        `[${cri}.cni]`,
        `  bin_dir = ${q(CNI_BIN)}`,
        `  conf_dir = ${q(cniConf)}`,
      ],
    }),
  );
  const ctr = (args: string[]) => sb.run('ctr', ['--address', sock, '--namespace', CRI_NAMESPACE, ...args], {}, { timeoutMs: 60_000 });
  const client = criClient(sock);
  const cgroupParent = path.basename(sb.dir);
  sb.noteParentCgroups([cgroupParent]);
  const daemon = await sb.startNamespaced(
    'containerd-cri',
    ['containerd', '--config', path.join(base, 'config.toml')],
    { '/run': sb.mkdir('cri', 'run-bind'), '/var/lib': sb.mkdir('cri', 'var-lib-bind') },
    {},
    async () => {
      if (!fs.existsSync(sock)) return false;
      try {
        await client.call('Version', { version: 'v1' }, 5000);
        return true;
      } catch {
        return false;
      }
    },
    // The bridge, veths and addresses of pod networks stay in this namespace, gone with containerd.
    { network: true },
  );
  const tsboxRoot = path.join(runtimeRoot, CRI_NAMESPACE);
  sb.stateRoots.add(tsboxRoot);
  sb.stateRoots.add(path.join(base, 'run-bind', 'tsbox'));
  const imported = await ctr(['images', 'import', buildImageTar(sb, image)]);
  if (imported.status !== 0) throw new Error(`ctr images import: ${imported.stderr}`);
  return {
    tsboxRoot,
    image,
    cgroupParent,
    restrictOomScoreAdj,
    pid: daemon.pid,
    call: client.call,
    async hostPid(handler, id) {
      if (handler === HANDLER) return (await expectRunByTsbox(sb, tsboxRoot, id)).pid;
      const r = await sb.run('runc', ['--root', path.join(sb.path('cri', 'runc'), CRI_NAMESPACE), 'state', id], {});
      expect(r, r.stderr).toMatchObject({ status: 0 });
      return (JSON.parse(r.stdout) as { pid: number }).pid;
    },
    async sharedDir(name) {
      const dir = sb.mkdir('cri', 'shared', name);
      const inNamespace = (script: string) => sb.run('nsenter', [`--target=${daemon.pid}`, '--mount', '--', 'sh', '-ec', script, 'sh', dir], {});
      const made = await inNamespace('mount --bind "$1" "$1"; mount --make-shared "$1"');
      if (made.status !== 0) throw new Error(`making ${dir} a shared mount: ${made.stderr}`);
      const mountsBelow = () =>
        fs
          .readFileSync(`/proc/${daemon.pid}/mountinfo`, 'utf8')
          .split('\n')
          .map((l) => l.split(' ')[4] ?? '')
          .filter((m) => m.startsWith(dir + '/'));
      return {
        dir,
        mountsBelow,
        async release() {
          // Deepest first; -l: a container may still hold one.
          for (const m of [...mountsBelow().reverse(), dir]) await inNamespace(`umount -l ${JSON.stringify(m)}`);
        },
      };
    },
    async importImage(ref, user) {
      const r = await ctr(['images', 'import', buildImageTar(sb, ref, user)]);
      if (r.status !== 0) throw new Error(`ctr images import ${ref}: ${r.stderr}`);
    },
    async removeAll() {
      // Pod sandboxes carry the label io.cri-containerd.kind=sandbox; RemovePodSandbox takes their containers along.
      const sandboxes = (await ctr(['containers', 'ls', '--quiet', 'labels."io.cri-containerd.kind"==sandbox'])).stdout.split('\n').filter((s) => s);
      for (const id of sandboxes) {
        await client.call('StopPodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
        await client.call('RemovePodSandbox', { pod_sandbox_id: id }).catch(() => undefined);
      }
    },
    close: () => client.close(),
  };
}
