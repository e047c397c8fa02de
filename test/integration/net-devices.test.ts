// linux.netDevices (spec 1.3): host interfaces moved into the container's
// new network namespace, renamed as asked, by the helper over rtnetlink.
// Only interfaces the test makes (veth pairs: this kernel has no dummy
// driver), in a network namespace of the test's own (unshare -n around
// tsbox), never the host's.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isRoot } from '../helpers/bundle.js';
import { TSBOX } from '../helpers/cli.js';
import { lifecycleSession } from '../helpers/lifecycle.js';

/** Runs `script` in a new network namespace (gone with it); $TSBOX is tsbox with the test's --root. */
function inNetns(root: string, script: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('unshare', ['--net', 'sh', '-c', `set -e\nTSBOX="${process.execPath} ${TSBOX} --root ${root}"\n${script}`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Interface names from `ip -o link show` lines ("3: eth7@if2: <...>"). */
function links(text: string): string[] {
  return text.trim().split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!).sort();
}

/** The parts of a script's output, each after an "== NAME" line. */
function sections(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('== ').filter(Boolean).map((s) => [s.slice(0, s.indexOf('\n')), s.slice(s.indexOf('\n') + 1)]));
}

/** "dev family address/prefix" from `ip -o addr show` lines. */
function addresses(text: string): string[] {
  return text.trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(1, 4).join(' '));
}

/**
 * Starts $HOLDER: a process holding a network namespace of its own (made
 * inside the test's), to be joined by path; waits until it has unshared.
 */
const HOLD_NETNS = [
  'unshare --net sleep 100 </dev/null >/dev/null 2>&1 & HOLDER=$!',
  "trap 'kill $HOLDER' EXIT",
  'while [ "$(readlink /proc/$HOLDER/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done',
].join('\n');

/** The veth pair tsv0/tsv1 in the test's namespace, tsv0 with a global address. */
const VETH_WITH_ADDRESS = ['ip link add tsv0 type veth peer name tsv1', 'ip addr add 10.91.0.7/24 dev tsv0'];

/** After a failed run in a joined namespace: the state, the runtime's namespace, tsv0's addresses, the joined namespace. */
const AFTER_JOINED_FAILURE = [
  'echo "== list"; $TSBOX list -q',
  'echo "== outside"; ip -o link show',
  'echo "== addresses"; ip -o addr show dev tsv0 scope global',
  'echo "== joined"; nsenter -t $HOLDER -n ip -o link show',
];

describe.skipIf(!isRoot)('linux.netDevices' + (isRoot ? '' : ' (skipped: needs root)'), () => {
  const lc = lifecycleSession();

  /**
   * A bundle whose network namespace is $HOLDER's (HOLD_NETNS), joined by
   * path; the script puts the holder's pid into config.json (JOIN_HOLDER).
   */
  function joinedBundle(args: string[], netDevices: object, more?: (c: any) => void) {
    return lc.bundle({
      args,
      mutate: (c) => {
        c.linux.netDevices = netDevices;
        c.linux.namespaces = c.linux.namespaces.map((ns: { type: string }) => (ns.type === 'network' ? { type: 'network', path: '/proc/$HOLDER/ns/net' } : ns));
        more?.(c);
      },
    });
  }

  const holdAndJoin = (dir: string) => [HOLD_NETNS, `sed -i "s|\\$HOLDER|$HOLDER|" ${dir}/config.json`];

  it('moves each device into the container\'s network namespace, renamed as asked, up, with their addresses; gone from the runtime\'s; destroyed with the namespace on delete (veth), as with runc', () => {
    const b = lc.bundle({
      args: ['sleep', '100'],
      mutate: (c) => (c.linux.netDevices = { tsv0: { name: 'eth7' }, tsw0: {} }),
    });
    const r = inNetns(lc.root, [
      'ip link add tsv0 type veth peer name tsv1',
      'ip link add tsw0 type veth peer name tsw1',
      // Permanent global addresses go along (as runc); the kernel would drop them.
      'ip addr add 10.91.0.7/24 dev tsv0',
      'ip addr add fd00:91::7/64 dev tsv0',
      `$TSBOX run -d --bundle ${b.dir} nd-move </dev/null >/dev/null 2>&1`,
      'echo "== inside"; $TSBOX exec nd-move ip -o link show',
      'echo "== state"; $TSBOX exec nd-move cat /sys/class/net/eth7/flags /sys/class/net/tsw0/flags',
      'echo "== addresses"; $TSBOX exec nd-move ip -o addr show dev eth7',
      'echo "== outside"; ip -o link show',
      '$TSBOX delete --force nd-move',
      'echo "== after delete"; ip -o link show',
    ].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const part = sections(r.stdout);
    // Inside: its loopback and the two devices, one renamed.
    expect(links(part.inside!)).toEqual(['eth7', 'lo', 'tsw0']);
    // Both up (IFF_UP is bit 0 of the flags).
    expect(part.state!.trim().split('\n').map((f) => Number(f) & 1)).toEqual([1, 1]);
    expect(addresses(part.addresses!)).toEqual([
      'eth7 inet 10.91.0.7/24',
      'eth7 inet6 fd00:91::7/64',
    ]);
    // Outside, while it runs: the peers stay, the moved ends are gone.
    expect(links(part.outside!)).toEqual(['lo', 'tsv1', 'tsw1']);
    // With the container's namespace gone, the kernel destroys virtual
    // devices (and their peers); runc 1.3/1.4 do not move devices back either.
    expect(links(part['after delete']!)).toEqual(['lo']);
  });

  it('a device that does not exist: one line naming linux.netDevices["X"], no container, and no device moved', () => {
    const b = lc.bundle({ args: ['true'], mutate: (c) => (c.linux.netDevices = { tsv0: {}, nope0: { name: 'eth1' } }) });
    const r = inNetns(lc.root, [
      'ip link add tsv0 type veth peer name tsv1',
      `if $TSBOX run --bundle ${b.dir} nd-missing; then exit 90; fi`,
      `if $TSBOX create --bundle ${b.dir} nd-missing; then exit 91; fi`,
      'echo "== list"; $TSBOX list -q',
      'echo "== outside"; ip -o link show',
    ].join('\n'));
    const line = 'tsbox: linux.netDevices["nope0"]: no such network device in the runtime\'s network namespace\n';
    expect(r.stderr).toBe(line + line);
    expect(r.status).toBe(0);
    expect(r.stdout.split('== outside\n')[0]).toBe('== list\n');
    expect(links(r.stdout.split('== outside\n')[1]!)).toEqual(['lo', 'tsv0', 'tsv1']);
  });

  it('a device the kernel will not move (a bridge): one line naming it, and those moved before it come back under their names', () => {
    const b = lc.bundle({ args: ['true'], mutate: (c) => (c.linux.netDevices = { tsv0: { name: 'x0' }, tbr0: {} }) });
    const r = inNetns(lc.root, [
      ...VETH_WITH_ADDRESS,
      'ip link add tbr0 type bridge',
      `if $TSBOX run --bundle ${b.dir} nd-bridge; then exit 90; fi`,
      'echo "== list"; $TSBOX list -q',
      'echo "== outside"; ip -o link show',
      'echo "== addresses"; ip -o addr show dev tsv0 scope global',
    ].join('\n'));
    expect(r.stderr).toBe('tsbox: linux.netDevices["tbr0"]: move into the container\'s network namespace as "tbr0": invalid argument (EINVAL)\n');
    expect(r.status).toBe(0);
    const part = sections(r.stdout);
    expect(part.list).toBe('');
    // Without the move back, the veth pair would have gone with the killed init's namespace.
    expect(links(part.outside!)).toEqual(['lo', 'tbr0', 'tsv0', 'tsv1']);
    // With the address it had (the kernel dropped it on the way in).
    expect(addresses(part.addresses!)).toEqual(['tsv0 inet 10.91.0.7/24']);
  });

  it('into a network namespace joined by path: moved, renamed, up, with their addresses; left there on delete (the namespace is not the container\'s)', () => {
    const b = joinedBundle(['sleep', '100'], { tsv0: { name: 'eth7' } });
    const r = inNetns(lc.root, [
      ...VETH_WITH_ADDRESS,
      ...holdAndJoin(b.dir),
      `$TSBOX run -d --bundle ${b.dir} nd-joined </dev/null >/dev/null 2>&1`,
      'echo "== inside"; $TSBOX exec nd-joined ip -o link show',
      'echo "== addresses"; $TSBOX exec nd-joined ip -o addr show dev eth7 scope global',
      'echo "== outside"; ip -o link show',
      '$TSBOX delete --force nd-joined',
      'echo "== joined after delete"; nsenter -t $HOLDER -n ip -o link show',
    ].join('\n'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const part = sections(r.stdout);
    expect(links(part.inside!)).toEqual(['eth7', 'lo']);
    expect(addresses(part.addresses!)).toEqual(['eth7 inet 10.91.0.7/24']);
    expect(links(part.outside!)).toEqual(['lo', 'tsv1']);
    expect(links(part['joined after delete']!)).toEqual(['eth7', 'lo']);
  });

  it('into a network namespace joined by path, a container that fails after the move (a mount): one line, the devices back in the runtime\'s namespace with their addresses', () => {
    const b = joinedBundle(['true'], { tsv0: { name: 'eth7' } }, (c) =>
      c.mounts.push({ destination: '/x', type: 'bind', source: '/no/such/source', options: ['bind'] }),
    );
    const r = inNetns(lc.root, [
      ...VETH_WITH_ADDRESS,
      ...holdAndJoin(b.dir),
      `if $TSBOX run --bundle ${b.dir} nd-joined-late; then exit 90; fi`,
      ...AFTER_JOINED_FAILURE,
    ].join('\n'));
    expect(r.stderr).toMatch(/^tsbox: .*\/no\/such\/source.*\n$/);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(r.status).toBe(0);
    const part = sections(r.stdout);
    expect(part.list).toBe('');
    expect(links(part.outside!)).toEqual(['lo', 'tsv0', 'tsv1']);
    expect(addresses(part.addresses!)).toEqual(['tsv0 inet 10.91.0.7/24']);
    expect(links(part.joined!)).toEqual(['lo']);
  });

  it('into a network namespace joined by path, a device the kernel will not move: one line, the others back in the runtime\'s namespace with their addresses, none left in the joined one', () => {
    const b = joinedBundle(['true'], { tsv0: { name: 'x0' }, tbr0: {} });
    const r = inNetns(lc.root, [
      ...VETH_WITH_ADDRESS,
      'ip link add tbr0 type bridge',
      ...holdAndJoin(b.dir),
      `if $TSBOX run --bundle ${b.dir} nd-joined-bridge; then exit 90; fi`,
      ...AFTER_JOINED_FAILURE,
    ].join('\n'));
    expect(r.stderr).toBe('tsbox: linux.netDevices["tbr0"]: move into the container\'s network namespace as "tbr0": invalid argument (EINVAL)\n');
    expect(r.status).toBe(0);
    const part = sections(r.stdout);
    expect(part.list).toBe('');
    expect(links(part.outside!)).toEqual(['lo', 'tbr0', 'tsv0', 'tsv1']);
    expect(addresses(part.addresses!)).toEqual(['tsv0 inet 10.91.0.7/24']);
    expect(links(part.joined!)).toEqual(['lo']);
  });
});
