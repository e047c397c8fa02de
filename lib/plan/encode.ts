import type { PlanRecord } from '../native/protocol.js';
import { wire } from '../wire.js';
import type { IdRange, LaunchPlan, PlannedSeccomp } from './plan.js';

/** Map lines as flat fields: containerID hostID size, ... */
function idRanges(ranges: IdRange[]): number[] {
  return ranges.flatMap((r) => [r.containerID, r.hostID, r.size]);
}

type Field = string | number | bigint;

/** Records under construction; only the protocol's record names (lib/native/protocol.ts) are taken. */
function recordList(): { records: string[][]; add: (kind: PlanRecord, ...fields: Field[]) => void } {
  const records: string[][] = [];
  return { records, add: (kind, ...fields) => records.push([kind, ...fields.map(String)]) };
}

/**
 * Serializes a launch plan into the records native/helper/plan.cc decodes
 * (lib/wire.ts).
 */
export function encodePlan(plan: LaunchPlan): Buffer {
  const { records, add } = recordList();

  if (plan.exec) add('exec');
  for (const ns of plan.namespaces) add('ns', ns.type, ns.path);
  for (const procs of plan.cgroupProcs) add('cgroup-procs', procs);
  for (const procs of plan.lateCgroupProcs ?? []) add('late-cgroup-procs', procs);
  if (plan.awaitCgroup) add('await-cgroup');
  if (!plan.exec) {
    add('rootfs', plan.rootfs);
    add('root-propagation', plan.rootPropagation);
  }
  for (const m of plan.mounts) {
    add('mount', m.source, m.destination, m.type, m.flags, m.data, m.propagation);
    if (m.recursive) add('mount-recursive', m.recursive.set, m.recursive.clear);
    if (m.copyUp) add('mount-copy-up');
    if (m.idmap) add('mount-idmap', m.idmap.recursive ? 1 : 0, m.idmap.uids.length, ...idRanges(m.idmap.uids), ...idRanges(m.idmap.gids));
  }
  for (const d of plan.devices) add('device', d.path, d.type, d.major, d.minor, d.mode, d.uid, d.gid);
  for (const s of plan.symlinks) add('symlink', s.target, s.path);
  for (const dir of plan.mkdirs) add('mkdir', dir);
  for (const p of plan.maskedPaths) add('masked', p);
  for (const p of plan.readonlyPaths) add('readonly-path', p);
  if (plan.readonlyRoot) add('readonly-root');
  if (plan.rootfsPropagation) add('rootfs-propagation', plan.rootfsPropagation);
  if (plan.noPivot) add('no-pivot');
  for (const [key, value] of plan.sysctls) add('sysctl', key, value);
  if (plan.hostname !== undefined) add('hostname', plan.hostname);
  if (plan.domainname !== undefined) add('domainname', plan.domainname);
  if (plan.terminal) add('terminal', plan.terminal.rows, plan.terminal.cols);
  for (const r of plan.rlimits) add('rlimit', r.name, r.resource, r.soft, r.hard);
  if (plan.oomScoreAdj !== undefined) add('oom-score-adj', plan.oomScoreAdj);
  if (plan.noNewPrivileges) add('no-new-privileges');
  if (plan.apparmorProfile !== undefined) add('apparmor-profile', plan.apparmorProfile);
  if (plan.selinuxLabel !== undefined) add('selinux-label', plan.selinuxLabel);
  if (plan.ioPriority !== undefined) add('ioprio', plan.ioPriority);
  const sched = plan.scheduler;
  if (sched) add('scheduler', sched.policy, sched.flags, sched.nice, sched.priority, sched.runtime, sched.deadline, sched.period);
  if (plan.personality !== undefined) add('personality', plan.personality);
  if (plan.seccomp) {
    const compiled = plan.seccompProgram;
    if (!compiled) throw new Error('encodePlan: linux.seccomp has not been compiled');
    add('seccomp-program', compiled.loadFlags, compiled.program.toString('hex'));
  }
  const caps = plan.capabilities;
  if (caps) add('capabilities', caps.lastCap, caps.bounding, caps.effective, caps.permitted, caps.inheritable, caps.ambient);
  add('user', plan.user.uid, plan.user.gid, ...plan.user.groups);
  if (plan.umask !== undefined) add('umask', plan.umask);
  add('cwd', plan.cwd);
  add('env', ...plan.env);
  add('args', ...plan.args);
  if (plan.hooksPause) add('hooks-pause');
  for (const h of plan.hooks) add('hook', h.phase, h.path, h.timeout, h.args.length, ...h.args, ...h.env);
  if (plan.startSocket !== undefined) add('start-socket', plan.startSocket);
  else if (plan.pause) add('pause');
  if (plan.sessionKeyring !== undefined) add('session-keyring', plan.sessionKeyring);
  if (plan.userns) {
    const u = plan.userns;
    for (const r of u.uidMappings) add('uid-map', ...idRanges([r]));
    for (const r of u.gidMappings) add('gid-map', ...idRanges([r]));
    if (u.setgroupsDeny) add('setgroups-deny');
    if (u.tools) add('idmap-tools', u.tools.newuidmap, u.tools.newgidmap);
  }

  const affinity = plan.execCpuAffinity;
  if (affinity?.initial.length) add('exec-cpu-affinity', 'initial', ...affinity.initial);
  if (affinity?.final.length) add('exec-cpu-affinity', 'final', ...affinity.final);
  for (const t of plan.timeOffsets ?? []) add('time-offset', t.clock, t.secs, t.nanosecs);
  const mp = plan.memoryPolicy;
  if (mp) add('memory-policy', mp.text, mp.mode, ...mp.nodes);
  for (const d of plan.netDevices ?? []) add('net-device', d.host, d.name);

  return wire.encodeRecords(records);
}

/**
 * A plan for the helper's move-back mode (native/helper/main.cc): the
 * devices of linux.netDevices, from the network namespace joined at
 * `netns` back into the runtime's.
 */
export function encodeNetDevicesBack(netns: string, devices: ReadonlyArray<{ host: string; name: string }>): Buffer {
  const { records, add } = recordList();
  add('net-devices-back', netns);
  for (const d of devices) add('net-device', d.host, d.name);
  return wire.encodeRecords(records);
}

/** A plan for the helper's compile mode (native/helper/main.cc): only the rules of linux.seccomp. */
export function encodeSeccompCompile(seccomp: PlannedSeccomp): Buffer {
  const { records, add } = recordList();
  add('seccomp-compile');
  add('seccomp', seccomp.defaultAction, seccomp.defaultErrno, seccomp.architectures.length, ...seccomp.architectures, ...seccomp.flags);
  for (const r of seccomp.rules) {
    add('seccomp-rule', r.where, r.name, r.action, r.errno, r.args.length, ...r.args.flatMap((a) => [a.index, a.op, a.value, a.valueTwo]));
  }
  return wire.encodeRecords(records);
}
