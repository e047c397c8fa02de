// docker 20.10 with its default bridge network, running containers with
// tsbox as the runtime. With the bridge, docker puts an OCI prestart hook in
// each container's config.json: `/proc/<dockerd-pid>/exe libnetwork-setkey
// <container-id> <controller-id>`. tsbox runs it after it has made the
// container's namespaces, with the OCI state on stdin; the hook reads the
// state's pid and hands /proc/<pid>/ns/net to dockerd, which only then puts
// a veth end (eth0), an address and routes into that namespace. So a
// container with a working eth0 is the proof that the hook ran, at the right
// time, with the right state. `docker build`'s RUN steps are containers of
// the default runtime (tsbox here) on the same bridge, with the same hook.
//
// dockerd runs in a network namespace of its own (startDockerd with
// network 'bridge', see ../helpers/engines.ts): docker0, the veths, the NAT
// rules and docker-proxy live there, and the host's interfaces, firewall
// and sysctls are checked to stay as they were, during the tests and after.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DOCKER_CLI,
  EngineSandbox,
  TEST_TIMEOUT,
  expectProcessGone,
  expectRunByTsbox,
  expectTsboxStateGone,
  hostFirewall,
  namespaceOf,
  processStartTime,
  readTsboxRecord,
  netLinks,
  skipReason,
  startDockerd,
  suiteTitle,
  useEngineSuite,
  type Docker,
  type TsboxRecord,
} from '../helpers/engines.js';
import { waitUntil } from '../helpers/lifecycle.js';

const reason = skipReason([
  'dockerd',
  DOCKER_CLI,
  'containerd',
  'containerd-shim-runc-v2',
  'docker-proxy',
  'unshare',
  'nsenter',
  'ip',
  'iptables-save',
  'chroot',
  'tar',
]);

interface Inspected {
  Id: string;
  State: { Pid: number; Running: boolean };
  HostConfig: { Runtime: string };
  HostsPath: string;
  ResolvConfPath: string;
  HostnamePath: string;
  NetworkSettings: { IPAddress: string; Gateway: string; IPPrefixLen: number; MacAddress: string; SandboxKey: string };
}

describe.skipIf(reason !== undefined)(suiteTitle('docker with its default bridge network, tsbox as the runtime', reason), () => {
  let sb: EngineSandbox;
  let dk: Docker;
  // The host's network as it was before dockerd started.
  let hostLinks: string[] = [];
  let hostRules: Record<string, string> = {};
  const hostNet = namespaceOf('self', 'net');

  // The teardown report includes the host's links, firewall, ip_forward
  // and bridge sysctls, and dockerd's network namespace being gone.
  useEngineSuite('docker-net', async (sandbox) => {
    hostLinks = netLinks();
    hostRules = hostFirewall();
    sb = sandbox;
    // tsbox is the default runtime too, for `docker build`'s RUN steps (a build has no --runtime).
    return (dk = await startDockerd(sb, { network: 'bridge', config: { 'default-runtime': 'tsbox' } }));
  }, 'docker rm --force');

  /** The host's network is untouched: no docker0, no veth, no rule. */
  function expectHostNetworkUntouched(): void {
    expect(netLinks(), "the host's network interfaces").toEqual(hostLinks);
    expect(hostFirewall(), "the host's firewall rules").toEqual(hostRules);
  }

  // Default network: no --network flag at all.
  const RUN = ['run', '--runtime', 'tsbox'];
  /** pid 1 ignores signals it has no handler for: this one ends on SIGTERM. */
  const UNTIL_TERM = 'trap "exit 0" TERM; while :; do sleep 0.1; done';

  async function inspect(name: string): Promise<Inspected> {
    const r = await dk.docker(['inspect', name]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    return (JSON.parse(r.stdout) as Inspected[])[0]!;
  }

  /** Starts a detached container on the default bridge and proves tsbox runs it. */
  async function runDetached(
    script: string,
    flags: string[] = [],
  ): Promise<{ name: string; info: Inspected; rec: TsboxRecord; root: string }> {
    const name = sb!.unique('net');
    const r = await dk.docker([...RUN, '-d', '--name', name, ...flags, dk.image, 'sh', '-c', script]);
    expect(r, r.stderr).toMatchObject({ status: 0 });
    const info = await inspect(name);
    expect(info.HostConfig.Runtime).toBe('tsbox');
    expect(info.State.Running).toBe(true);
    expect(info.Id).toBe(r.stdout.trim());
    const root = dk.tsboxRootOf(info.Id);
    const rec = await expectRunByTsbox(sb!, root, info.Id, info.State.Pid);
    return { name, info, rec, root };
  }

  /** A container that serves `text` as http://<its address>/ with busybox httpd. */
  function webServer(text: string): string {
    return `mkdir /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`;
  }

  it("dockerd's bridge and NAT rules are in its own network namespace, not the host's", TEST_TIMEOUT, async () => {
    expect(dk.netNs).toBeDefined();
    expect(dk.netNs).not.toBe(hostNet);
    const addr = await dk.inNetwork(['ip', '-o', '-4', 'addr', 'show', 'dev', 'docker0']);
    expect(addr, addr.stderr).toMatchObject({ status: 0 });
    expect(addr.stdout).toContain('inet 172.17.0.1/16');
    const nat = await dk.inNetwork(['iptables-save', '-t', 'nat']);
    expect(nat, nat.stderr).toMatchObject({ status: 0 });
    expect(nat.stdout).toContain('-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE');
    expect(hostLinks).not.toContain('docker0');
    expectHostNetworkUntouched();
  });

  it('a bridged container gets eth0 with its address through the prestart hook, and docker\'s hosts and resolv.conf', TEST_TIMEOUT, async () => {
    const c = await runDetached(UNTIL_TERM);
    const net = c.info.NetworkSettings;
    expect(net.IPAddress).toMatch(/^172\.17\.\d+\.\d+$/);
    expect(net).toMatchObject({ Gateway: '172.17.0.1', IPPrefixLen: 16 });

    // The config tsbox ran has docker's hook, which calls back into this dockerd.
    const config = JSON.parse(fs.readFileSync(path.join(c.rec.bundle, 'config.json'), 'utf8')) as {
      hooks?: { prestart?: { path: string; args?: string[] }[] };
      linux: { namespaces: { type: string; path?: string }[] };
    };
    expect(config.hooks?.prestart).toEqual([
      { path: `/proc/${dk.pid}/exe`, args: ['libnetwork-setkey', expect.stringMatching(/^-exec-root=/), c.info.Id, expect.any(String)] },
    ]);
    // tsbox made the network namespace (docker gives no path to join).
    expect(config.linux.namespaces).toContainEqual({ type: 'network' });

    // The namespace libnetwork configured (its sandbox key, a bind mount of
    // the namespace in dockerd's mount namespace) is the container init's.
    const netNs = namespaceOf(c.rec.pid, 'net');
    expect(netNs).toMatch(/^net:\[\d+\]$/);
    expect(netNs).not.toBe(hostNet);
    expect(netNs).not.toBe(dk.netNs);
    const sandboxKey = fs.statSync(`/proc/${dk.pid}/root${net.SandboxKey}`);
    expect(`net:[${sandboxKey.ino}]`, `the sandbox key ${net.SandboxKey}`).toBe(netNs);

    // From inside: eth0 has the address docker reports, and the default route is the bridge.
    const ip = await dk.docker(['exec', c.name, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    expect(ip, ip.stderr).toMatchObject({ status: 0 });
    expect(ip.stdout).toContain(`inet ${net.IPAddress}/16`);
    const link = await dk.docker(['exec', c.name, 'cat', '/sys/class/net/eth0/address']);
    expect(link.stdout.trim()).toBe(net.MacAddress);
    const route = await dk.docker(['exec', c.name, 'ip', 'route', 'show', 'default']);
    expect(route.stdout).toContain('default via 172.17.0.1 dev eth0');
    const ping = await dk.docker(['exec', c.name, 'ping', '-c', '1', '-W', '5', '172.17.0.1']);
    expect(ping, ping.stderr).toMatchObject({ status: 0 });
    expect(ping.stdout).toContain('1 packets received');

    // The host end of its veth is on docker0, in dockerd's namespace.
    const veths = await dk.inNetwork(['ip', '-o', 'link', 'show', 'master', 'docker0']);
    expect(veths.stdout).toMatch(/^\d+: veth\w+@if\d+:/);

    // /etc/hosts, /etc/resolv.conf and /etc/hostname are docker's files.
    for (const [file, hostPath] of [
      ['/etc/hosts', c.info.HostsPath],
      ['/etc/resolv.conf', c.info.ResolvConfPath],
      ['/etc/hostname', c.info.HostnamePath],
    ] as const) {
      const inside = await dk.docker(['exec', c.name, 'cat', file]);
      expect(inside, inside.stderr).toMatchObject({ status: 0 });
      expect(inside.stdout, file).toBe(fs.readFileSync(hostPath, 'utf8'));
    }
    expect((await dk.docker(['exec', c.name, 'cat', '/etc/hosts'])).stdout).toContain(`${net.IPAddress}\t${c.info.Id.slice(0, 12)}\n`);

    expectHostNetworkUntouched();
  });

  it('two containers on the bridge reach each other (ping, http)', TEST_TIMEOUT, async () => {
    const web = await runDetached(webServer('hello-from-tsbox'));
    const server = web.info.NetworkSettings.IPAddress;
    // The client does its work as its own init (no exec): the network it
    // uses is the one set up through its own prestart hook.
    const client = await runDetached(
      `ping -c 1 -W 5 ${server} >/dev/null && echo ping-ok; ` +
        `for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O - http://${server}/ && break; sleep 0.2; done; echo done; ${UNTIL_TERM}`,
    );
    expect(client.info.NetworkSettings.IPAddress).not.toBe(server);
    const logs = await waitUntil(
      'the client to finish',
      async () => {
        const r = await dk.docker(['logs', client.name]);
        return r.stdout.includes('done\n') && r;
      },
      20_000,
    );
    expect(logs.stdout).toBe('ping-ok\nhello-from-tsbox\ndone\n');
    expectHostNetworkUntouched();
  });

  it('run -p publishes a port in dockerd\'s namespace (DNAT rule and docker-proxy)', TEST_TIMEOUT, async () => {
    const web = await runDetached(webServer('published'), ['-p', '8080:80']);
    const ipAddr = web.info.NetworkSettings.IPAddress;
    expect((await dk.docker(['port', web.name, '80/tcp'])).stdout).toContain('0.0.0.0:8080');
    const nat = await dk.inNetwork(['iptables-save', '-t', 'nat']);
    expect(nat.stdout).toContain(`-j DNAT --to-destination ${ipAddr}:80`);
    // Through docker-proxy, on dockerd's loopback (httpd may take a moment to listen).
    const got = await waitUntil(
      'the published port to answer',
      async () => {
        const r = await dk.inNetwork(['busybox', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], { timeoutMs: 5000 });
        return r.status === 0 && r;
      },
      10_000,
    );
    expect(got.stdout).toBe('published\n');
    expectHostNetworkUntouched();

    // Removing the container removes its rule and stops the proxy.
    expect(await dk.docker(['rm', '--force', web.name])).toMatchObject({ status: 0 });
    await expectTsboxStateGone(web.root, web.info.Id);
    await expectProcessGone(web.rec.pid);
    expect((await dk.inNetwork(['iptables-save', '-t', 'nat'])).stdout).not.toContain('DNAT');
    const refused = await dk.inNetwork(['busybox', 'wget', '-q', '-T', '2', '-O', '-', 'http://127.0.0.1:8080/'], { timeoutMs: 5000 });
    expect(refused.status).not.toBe(0);
  });

  it('run --rm on the bridge: the output comes back and the veth goes', TEST_TIMEOUT, async () => {
    const bridged = async () => (await dk.inNetwork(['ip', '-o', 'link', 'show', 'master', 'docker0'])).stdout;
    const before = await bridged();
    const r = await dk.docker([...RUN, '--rm', dk.image, 'sh', '-c', 'ip -o -4 addr show dev eth0 | grep -o "inet 172\\.17\\.[0-9.]*/16"; ping -c 1 -W 5 172.17.0.1 >/dev/null && echo ping-ok']);
    expect(r, r.stderr).toMatchObject({ status: 0, stderr: '' });
    expect(r.stdout).toMatch(/^inet 172\.17\.\d+\.\d+\/16\nping-ok\n$/);
    await waitUntil('the veth to go', async () => (await bridged()) === before, 10_000).catch(() => undefined);
    expect(await bridged()).toBe(before);
    expectHostNetworkUntouched();
  });

  it('docker build (classic builder) on the bridge: a RUN step run by tsbox gets eth0 through the hook and reaches docker0; the host untouched', TEST_TIMEOUT, async () => {
    const dir = sb!.mkdir('bridge-build');
    fs.writeFileSync(path.join(dir, 'Dockerfile'), [
      `FROM ${dk.image}`,
      // The step's init is tsbox's while it sleeps (checked from outside).
      'RUN sleep 2; ip -4 -o addr show dev eth0 | awk \'{print "addr", $4}\' && ping -c 1 -W 2 172.17.0.1 > /dev/null && echo reached docker0',
    ].join('\n') + '\n');
    const build = dk.spawnDocker(['build', '--no-cache', '-t', 'localhost/bridged', dir]);
    const rec = await waitUntil('the RUN step\'s container under tsbox', () => {
      for (const root of dk.tsboxRoots()) {
        for (const id of EngineSandbox.stateEntries(root)) {
          const found = readTsboxRecord(root, id);
          if (found && processStartTime(found.pid) === found.pidStartTime) return { root, found };
        }
      }
      return false;
    }, 20_000);
    await expectRunByTsbox(sb!, rec.root, rec.found.id, rec.found.pid);
    const r = await build.done;
    expect(r, r.stderr).toMatchObject({ status: 0 });
    expect(r.stdout).toMatch(/^addr 172\.17\.\d+\.\d+\/16$/m);
    expect(r.stdout).toMatch(/^reached docker0$/m);
    expectHostNetworkUntouched();
  });
});

