/**
 * Checks a parsed config.json (or process.json) against the OCI runtime-spec
 * and what tsbox needs to run it, and reports the first problem as a
 * ConfigError naming the JSON path.
 *
 * Only known fields are looked at: the spec allows extensions, so unknown
 * fields pass untouched. Because the walk follows the spec's fixed shape, its
 * depth is bounded no matter how deeply the input nests, and every array or
 * map is capped in size before it is walked.
 */
import { posix } from 'node:path';
import { ConfigError } from '../errors.js';
import {
  DEVICE_CGROUP_TYPES,
  DEVICE_TYPES,
  HOOK_PHASES,
  IOPRIO_CLASSES,
  MEMORY_POLICY_FLAGS,
  MEMORY_POLICY_MODES,
  NAMESPACE_TYPES,
  PERSONALITY_DOMAINS,
  RLIMIT_TYPES,
  ROOTFS_PROPAGATIONS,
  SCHEDULER_FLAGS,
  SCHEDULER_POLICIES,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHES,
  SECCOMP_FLAGS,
  SECCOMP_OPERATORS,
  TIME_OFFSET_CLOCKS,
  type Process,
  type Spec,
} from './types.js';

const MAX_STRING_LENGTH = 1024 * 1024;
const MAX_ENTRIES = 100_000;
/** HOST_NAME_MAX, also the kernel's limit for the NIS domain name. */
const MAX_UTS_NAME_BYTES = 64;
/** SemVer 2.0.0, which the spec requires of ociVersion (semver.org's grammar). */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

interface Range {
  min: number;
  max: number;
  text: string;
}

function range(min: number, max: number): Range {
  return { min, max, text: `${min} to ${max}` };
}

const U16 = range(0, 65535);
const U32 = range(0, 4294967295);
const I32 = range(-2147483648, 2147483647);
// JSON.parse has already rounded integers beyond 2^53 to the nearest double,
// so 2^64-1 (what clients write for "unlimited") arrives as 2^64. The bounds
// are compared as doubles for that reason; only the message shows them exactly.
const U64: Range = { min: 0, max: 2 ** 64, text: '0 to 18446744073709551615' };
const I64: Range = { min: -(2 ** 63), max: 2 ** 63, text: '-9223372036854775808 to 9223372036854775807' };

/** Validates a whole config.json; the result is the same object, typed. */
export function validateSpec(value: unknown): Spec {
  if (!isRecord(value)) throw new ConfigError('', 'config must be a JSON object');
  checkSpec(new Checker(value, ''));
  return value as unknown as Spec;
}

/** Validates a `process` object, as found in config.json or given to `exec --process`. */
export function validateProcess(value: unknown, path = 'process'): Process {
  checkProcess(new Checker(value, path));
  return value as Process;
}

// ---------------------------------------------------------------- machinery

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A short rendering of a found value for messages; never the whole of a big one. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : 'an array';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function unknownValue(what: string, value: string, expected: readonly string[]): string {
  return `unknown ${what} ${describe(value)} (expected one of: ${expected.join(', ')})`;
}

/** A value from the config and its JSON path; its methods check its type and return it. */
class Checker {
  constructor(
    readonly value: unknown,
    readonly path: string,
  ) {}

  fail(problem: string): never {
    throw new ConfigError(this.path, problem);
  }

  object(): Fields {
    if (!isRecord(this.value)) this.fail(`must be an object, got ${describe(this.value)}`);
    return new Fields(this.value, this.path);
  }

  string(): string {
    const value = this.value;
    if (typeof value !== 'string') this.fail(`must be a string, got ${describe(value)}`);
    if (value.length > MAX_STRING_LENGTH) {
      this.fail(`must be at most ${MAX_STRING_LENGTH} characters long, got ${value.length}`);
    }
    return value;
  }

  /** A string that reaches a system call as a C string, where a NUL would silently cut it short. */
  cString(): string {
    const value = this.string();
    if (value.includes('\0')) this.fail('must not contain a NUL byte');
    return value;
  }

  nonEmptyString(): string {
    const value = this.cString();
    if (value === '') this.fail('must be a non-empty string, got ""');
    return value;
  }

  absolutePath(): string {
    const value = this.cString();
    if (!value.startsWith('/')) this.fail(`must be an absolute path, got ${describe(value)}`);
    return value;
  }

  matching(pattern: RegExp, expected: string): string {
    const value = this.string();
    if (!pattern.test(value)) this.fail(`must be ${expected}, got ${describe(value)}`);
    return value;
  }

  oneOf<T extends string>(values: readonly T[], what: string): T {
    const value = this.string();
    if (!(values as readonly string[]).includes(value)) this.fail(unknownValue(what, value, values));
    return value as T;
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`must be a boolean, got ${describe(this.value)}`);
    return this.value;
  }

  integer(bounds: Range): number {
    const value = this.value;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < bounds.min || value > bounds.max) {
      this.fail(`must be an integer from ${bounds.text}, got ${describe(value)}`);
    }
    return value;
  }

  items(): Checker[] {
    const value = this.value;
    if (!Array.isArray(value)) this.fail(`must be an array, got ${describe(value)}`);
    if (value.length > MAX_ENTRIES) this.fail(`must have at most ${MAX_ENTRIES} entries, got ${value.length}`);
    return value.map((item, i) => new Checker(item, `${this.path}[${i}]`));
  }

  nonEmptyItems(): Checker[] {
    if (!Array.isArray(this.value) || this.value.length === 0) {
      this.fail(`must be a non-empty array, got ${describe(this.value)}`);
    }
    return this.items();
  }

  /** An object used as a map: every property is an entry. */
  entries(): [string, Checker][] {
    const fields = this.object();
    const keys = Object.keys(fields.record);
    if (keys.length > MAX_ENTRIES) this.fail(`must have at most ${MAX_ENTRIES} entries, got ${keys.length}`);
    return keys.map((key) => {
      if (key.length > MAX_STRING_LENGTH) this.fail(`keys must be at most ${MAX_STRING_LENGTH} characters long`);
      return [key, new Checker(fields.record[key], childPath(this.path, key))];
    });
  }
}

/** The properties of a checked object. */
class Fields {
  constructor(
    readonly record: Record<string, unknown>,
    readonly path: string,
  ) {}

  optional(key: string): Checker | undefined {
    // Own properties only, so nothing inherited from Object.prototype counts as set.
    const value = Object.hasOwn(this.record, key) ? this.record[key] : undefined;
    return value === undefined ? undefined : new Checker(value, childPath(this.path, key));
  }

  required(key: string, problem = 'is required'): Checker {
    const field = this.optional(key);
    if (!field) throw new ConfigError(childPath(this.path, key), problem);
    return field;
  }
}

function rejectDuplicate(seen: Set<string>, field: Checker, value: string, what: string): void {
  if (seen.has(value)) field.fail(`duplicate ${what} ${describe(value)}`);
  seen.add(value);
}

// ---------------------------------------------------------------- top level

function checkSpec(field: Checker): void {
  const spec = field.object();
  spec.required('ociVersion').matching(SEMVER, 'a SemVer 2.0.0 version such as "1.2.0"');
  checkRoot(spec.required('root'));
  // The spec makes `process` optional, but tsbox only runs containers that have one.
  checkProcess(spec.required('process'));
  for (const key of ['hostname', 'domainname']) {
    const name = spec.optional(key);
    if (name) checkUtsName(name);
  }
  spec.optional('mounts')?.items().forEach(checkMount);
  const hooks = spec.optional('hooks');
  if (hooks) checkHooks(hooks);
  // The schema allows null here, meaning no annotations.
  const annotations = spec.optional('annotations');
  if (annotations && annotations.value !== null) {
    for (const [, value] of annotations.entries()) value.string();
  }
  const linux = spec.optional('linux');
  if (linux) checkLinux(linux);
}

function checkRoot(field: Checker): void {
  const root = field.object();
  root.required('path').nonEmptyString();
  root.optional('readonly')?.boolean();
}

function checkUtsName(field: Checker): void {
  const bytes = Buffer.byteLength(field.cString());
  if (bytes > MAX_UTS_NAME_BYTES) field.fail(`must be at most ${MAX_UTS_NAME_BYTES} bytes long, got ${bytes}`);
}

function checkMount(field: Checker): void {
  const mount = field.object();
  // Relative since spec 1.2: resolved against the container's "/" (lib/plan/build.ts).
  mount.required('destination').nonEmptyString();
  mount.optional('source')?.cString();
  mount.optional('type')?.cString();
  mount.optional('options')?.items().forEach(checkMountOption);
  mount.optional('uidMappings')?.items().forEach(checkIDMapping);
  mount.optional('gidMappings')?.items().forEach(checkIDMapping);
}

function checkMountOption(field: Checker): void {
  // Options are joined with commas into mount(2)'s data string.
  const option = field.cString();
  if (option === '') field.fail('must be a non-empty string, got ""');
  if (option.includes(',')) field.fail(`must not contain a comma, got ${describe(option)}`);
}

function checkHooks(field: Checker): void {
  const hooks = field.object();
  for (const phase of HOOK_PHASES) hooks.optional(phase)?.items().forEach(checkHook);
}

function checkHook(field: Checker): void {
  const hook = field.object();
  hook.required('path').absolutePath();
  hook.optional('args')?.items().forEach((arg) => arg.cString());
  hook.optional('env')?.items().forEach((entry) => entry.cString());
  hook.optional('timeout')?.integer(range(1, I32.max));
}

// ---------------------------------------------------------------- process

function checkProcess(field: Checker): void {
  const proc = field.object();
  proc.optional('terminal')?.boolean();
  const consoleSize = proc.optional('consoleSize');
  if (consoleSize) checkConsoleSize(consoleSize);
  const user = proc.optional('user');
  if (user) checkUser(user);
  proc
    .required('args')
    .nonEmptyItems()
    .forEach((arg) => arg.cString());
  proc.optional('commandLine')?.string();
  proc.optional('env')?.items().forEach(checkEnvEntry);
  proc.required('cwd').absolutePath();
  const capabilities = proc.optional('capabilities');
  if (capabilities) checkCapabilities(capabilities);
  const rlimits = proc.optional('rlimits');
  if (rlimits) checkRlimits(rlimits);
  proc.optional('noNewPrivileges')?.boolean();
  proc.optional('apparmorProfile')?.cString();
  proc.optional('oomScoreAdj')?.integer(range(-1000, 1000));
  const scheduler = proc.optional('scheduler');
  if (scheduler) checkScheduler(scheduler);
  proc.optional('selinuxLabel')?.cString();
  const ioPriority = proc.optional('ioPriority');
  if (ioPriority) checkIOPriority(ioPriority);
  const affinity = proc.optional('execCPUAffinity');
  if (affinity) checkCPUAffinity(affinity);
}

function checkConsoleSize(field: Checker): void {
  const size = field.object();
  size.required('height').integer(U32);
  size.required('width').integer(U32);
}

function checkUser(field: Checker): void {
  const user = field.object();
  user.required('uid').integer(U32);
  user.required('gid').integer(U32);
  user.optional('umask')?.integer(range(0, 0o7777));
  user.optional('additionalGids')?.items().forEach((gid) => gid.integer(U32));
  user.optional('username')?.string();
}

function checkEnvEntry(field: Checker): void {
  const entry = field.cString();
  if (!entry.includes('=')) field.fail(`must be of the form KEY=value, got ${describe(entry)}`);
}

function checkCapabilities(field: Checker): void {
  const capabilities = field.object();
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
    capabilities
      .optional(set)
      ?.items()
      .forEach((name) => name.matching(/^CAP_[A-Z_]+$/, 'a capability name like CAP_KILL'));
  }
}

function checkRlimits(field: Checker): void {
  const seen = new Set<string>();
  for (const item of field.items()) {
    const rlimit = item.object();
    const typeField = rlimit.required('type');
    rejectDuplicate(seen, typeField, typeField.oneOf(RLIMIT_TYPES, 'rlimit type'), 'rlimit type');
    const softField = rlimit.required('soft');
    const soft = softField.integer(U64);
    const hard = rlimit.required('hard').integer(U64);
    if (soft > hard) softField.fail(`must not be greater than hard (${soft} > ${hard})`);
  }
}

function checkScheduler(field: Checker): void {
  // The limits sched_setattr(2) puts on combinations, checked here so that
  // the error names the field rather than coming back as EINVAL.
  const scheduler = field.object();
  const policy = scheduler.required('policy').oneOf(SCHEDULER_POLICIES, 'scheduler policy');
  scheduler.optional('nice')?.integer(range(-20, 19));
  const priority = scheduler.optional('priority');
  if (priority && priority.integer(range(0, 99)) !== 0 && policy !== 'SCHED_FIFO' && policy !== 'SCHED_RR') {
    priority.fail(`can only be set for the SCHED_FIFO and SCHED_RR policies, not ${policy}`);
  }
  scheduler.optional('flags')?.items().forEach((flag) => flag.oneOf(SCHEDULER_FLAGS, 'scheduler flag'));
  for (const key of ['runtime', 'deadline', 'period']) {
    const value = scheduler.optional(key);
    if (value && value.integer(U64) !== 0 && policy !== 'SCHED_DEADLINE') {
      value.fail(`can only be set for the SCHED_DEADLINE policy, not ${policy}`);
    }
  }
}

function checkIOPriority(field: Checker): void {
  const ioPriority = field.object();
  ioPriority.required('class').oneOf(IOPRIO_CLASSES, 'I/O priority class');
  ioPriority.optional('priority')?.integer(range(0, 7));
}

function checkCPUAffinity(field: Checker): void {
  const affinity = field.object();
  affinity.optional('initial')?.matching(/^[0-9, -]*$/, 'a CPU list like "0-3,7"');
  affinity.optional('final')?.matching(/^[0-9, -]*$/, 'a CPU list like "0-3,7"');
}

// ---------------------------------------------------------------- linux

function checkLinux(field: Checker): void {
  const linux = field.object();
  const namespaces = linux.optional('namespaces');
  if (namespaces) checkNamespaces(namespaces);
  linux.optional('uidMappings')?.items().forEach(checkIDMapping);
  linux.optional('gidMappings')?.items().forEach(checkIDMapping);
  const timeOffsets = linux.optional('timeOffsets');
  if (timeOffsets) checkTimeOffsets(timeOffsets);
  linux.optional('devices')?.items().forEach(checkDevice);
  linux.optional('cgroupsPath')?.cString();
  const resources = linux.optional('resources');
  if (resources) checkResources(resources);
  linux.optional('rootfsPropagation')?.oneOf(ROOTFS_PROPAGATIONS, 'rootfs propagation');
  const seccomp = linux.optional('seccomp');
  if (seccomp) checkSeccomp(seccomp);
  const sysctl = linux.optional('sysctl');
  if (sysctl) {
    for (const [key, value] of sysctl.entries()) {
      // The key names a file under /proc/sys ("." or "/" between the
      // parts): no empty, "." or ".." part may lead elsewhere.
      if (!/^[A-Za-z0-9_-]+([./][A-Za-z0-9_:@+-]+)*$/.test(key)) {
        value.fail(`must be a sysctl name like "net.ipv4.ip_forward", got ${describe(key)}`);
      }
      value.cString();
    }
  }
  linux.optional('maskedPaths')?.items().forEach((path) => path.absolutePath());
  linux.optional('readonlyPaths')?.items().forEach((path) => path.absolutePath());
  linux.optional('mountLabel')?.cString();
  const intelRdt = linux.optional('intelRdt');
  if (intelRdt) checkIntelRdt(intelRdt);
  const personality = linux.optional('personality');
  if (personality) checkPersonality(personality);
  const memoryPolicy = linux.optional('memoryPolicy');
  if (memoryPolicy) checkMemoryPolicy(memoryPolicy);
}

function checkMemoryPolicy(field: Checker): void {
  const policy = field.object();
  policy.required('mode').oneOf(MEMORY_POLICY_MODES, 'memory policy mode');
  policy.optional('nodes')?.matching(/^[0-9, -]*$/, 'a node list like "0-3,7"');
  const seen = new Set<string>();
  for (const flag of policy.optional('flags')?.items() ?? []) rejectDuplicate(seen, flag, flag.oneOf(MEMORY_POLICY_FLAGS, 'memory policy flag'), 'memory policy flag');
}

function checkNamespaces(field: Checker): void {
  const seen = new Set<string>();
  for (const item of field.items()) {
    const namespace = item.object();
    const typeField = namespace.required('type');
    rejectDuplicate(seen, typeField, typeField.oneOf(NAMESPACE_TYPES, 'namespace type'), 'namespace type');
    namespace.optional('path')?.absolutePath();
  }
}

function checkIDMapping(field: Checker): void {
  const mapping = field.object();
  mapping.required('containerID').integer(U32);
  mapping.required('hostID').integer(U32);
  mapping.required('size').integer(range(1, U32.max));
}

function checkTimeOffsets(field: Checker): void {
  for (const [clock, value] of field.entries()) {
    if (!(TIME_OFFSET_CLOCKS as readonly string[]).includes(clock)) {
      value.fail(unknownValue('clock', clock, TIME_OFFSET_CLOCKS));
    }
    const offset = value.object();
    offset.optional('secs')?.integer(I64);
    offset.optional('nanosecs')?.integer(range(0, 999_999_999));
  }
}

function checkDevice(field: Checker): void {
  const device = field.object();
  const type = device.required('type').oneOf(DEVICE_TYPES, 'device type');
  const path = device.required('path');
  // Device nodes belong in the container's /dev (a tmpfs tsbox makes): one
  // elsewhere would be made in the image, or through ".." beside it.
  const inside = posix.normalize(path.absolutePath()).replace(/\/+$/, '');
  if (!inside.startsWith('/dev/')) path.fail(`must be a path under /dev, got ${describe(path.value)}${inside === path.value ? '' : ` (${describe(inside)})`}`);
  for (const key of ['major', 'minor']) {
    // A FIFO has no device number; every other node needs both.
    const number = type === 'p' ? device.optional(key) : device.required(key, `is required for device type "${type}"`);
    number?.integer(I64);
  }
  device.optional('fileMode')?.integer(U32);
  device.optional('uid')?.integer(U32);
  device.optional('gid')?.integer(U32);
}

// ---------------------------------------------------------------- linux.resources

function checkResources(field: Checker): void {
  const resources = field.object();
  resources.optional('devices')?.items().forEach(checkDeviceRule);
  const memory = resources.optional('memory');
  if (memory) checkMemory(memory);
  const cpu = resources.optional('cpu');
  if (cpu) checkCPU(cpu);
  // Optional since spec 1.3: a pids object without a limit leaves pids.max alone.
  resources.optional('pids')?.object().optional('limit')?.integer(I64);
  const blockIO = resources.optional('blockIO');
  if (blockIO) checkBlockIO(blockIO);
  resources.optional('hugepageLimits')?.items().forEach(checkHugepageLimit);
  const network = resources.optional('network');
  if (network) checkNetwork(network);
  const rdma = resources.optional('rdma');
  if (rdma) {
    for (const [, value] of rdma.entries()) {
      const limits = value.object();
      limits.optional('hcaHandles')?.integer(U32);
      limits.optional('hcaObjects')?.integer(U32);
    }
  }
  const unified = resources.optional('unified');
  if (unified) {
    for (const [, value] of unified.entries()) value.cString();
  }
}

function checkDeviceRule(field: Checker): void {
  const rule = field.object();
  rule.required('allow').boolean();
  rule.optional('type')?.oneOf(DEVICE_CGROUP_TYPES, 'device type');
  rule.optional('major')?.integer(I64);
  rule.optional('minor')?.integer(I64);
  rule.optional('access')?.matching(/^[rwm]{1,3}$/, 'one to three of the letters r, w, m');
}

function checkMemory(field: Checker): void {
  const memory = field.object();
  for (const key of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP']) memory.optional(key)?.integer(I64);
  memory.optional('swappiness')?.integer(range(0, 100));
  for (const key of ['disableOOMKiller', 'useHierarchy', 'checkBeforeUpdate']) memory.optional(key)?.boolean();
}

function checkCPU(field: Checker): void {
  const cpu = field.object();
  for (const key of ['shares', 'burst', 'period', 'realtimePeriod']) cpu.optional(key)?.integer(U64);
  for (const key of ['quota', 'realtimeRuntime', 'idle']) cpu.optional(key)?.integer(I64);
  cpu.optional('cpus')?.cString();
  cpu.optional('mems')?.cString();
}

function checkBlockIO(field: Checker): void {
  const blockIO = field.object();
  blockIO.optional('weight')?.integer(U16);
  blockIO.optional('leafWeight')?.integer(U16);
  blockIO
    .optional('weightDevice')
    ?.items()
    .forEach((item) => {
      const device = checkBlockDevice(item);
      device.optional('weight')?.integer(U16);
      device.optional('leafWeight')?.integer(U16);
    });
  for (const key of [
    'throttleReadBpsDevice',
    'throttleWriteBpsDevice',
    'throttleReadIOPSDevice',
    'throttleWriteIOPSDevice',
  ]) {
    blockIO
      .optional(key)
      ?.items()
      .forEach((item) => checkBlockDevice(item).required('rate').integer(U64));
  }
}

function checkBlockDevice(field: Checker): Fields {
  const device = field.object();
  device.required('major').integer(I64);
  device.required('minor').integer(I64);
  return device;
}

function checkHugepageLimit(field: Checker): void {
  const limit = field.object();
  limit.required('pageSize').nonEmptyString();
  limit.required('limit').integer(U64);
}

function checkNetwork(field: Checker): void {
  const network = field.object();
  network.optional('classID')?.integer(U32);
  network
    .optional('priorities')
    ?.items()
    .forEach((item) => {
      const priority = item.object();
      priority.required('name').nonEmptyString();
      priority.required('priority').integer(U32);
    });
}

// ---------------------------------------------------------------- linux.seccomp, intelRdt, personality

function checkSeccomp(field: Checker): void {
  const seccomp = field.object();
  const defaultAction = seccomp.required('defaultAction');
  // The init hands the listener fd over with a sendmsg after the filter is
  // loaded: were that call itself to wait for the listener, nothing would
  // ever arrive. runc refuses these for the same reason.
  if (defaultAction.oneOf(SECCOMP_ACTIONS, 'seccomp action') === 'SCMP_ACT_NOTIFY') {
    defaultAction.fail('SCMP_ACT_NOTIFY cannot be the default action (the runtime could not hand over the listener)');
  }
  seccomp.optional('defaultErrnoRet')?.integer(U32);
  seccomp
    .optional('architectures')
    ?.items()
    .forEach((arch) => arch.oneOf(SECCOMP_ARCHES, 'seccomp architecture'));
  seccomp.optional('flags')?.items().forEach((flag) => flag.oneOf(SECCOMP_FLAGS, 'seccomp flag'));
  const listenerPath = seccomp.optional('listenerPath');
  listenerPath?.nonEmptyString();
  seccomp.optional('listenerMetadata')?.string();
  const rules = seccomp.optional('syscalls')?.items() ?? [];
  const notify = rules.map(checkSyscallRule).some(Boolean);
  if (notify && !listenerPath) {
    throw new ConfigError(childPath(seccomp.path, 'listenerPath'), 'is required when a rule uses SCMP_ACT_NOTIFY');
  }
}

/** Checks one rule; returns whether it uses SCMP_ACT_NOTIFY. */
function checkSyscallRule(field: Checker): boolean {
  const rule = field.object();
  const names = rule.required('names').nonEmptyItems();
  const notify = rule.required('action').oneOf(SECCOMP_ACTIONS, 'seccomp action') === 'SCMP_ACT_NOTIFY';
  for (const name of names) {
    // The init writes to the runtime after the filter is loaded (see above).
    if (name.nonEmptyString() === 'sendmsg' && notify) name.fail('SCMP_ACT_NOTIFY cannot be used for sendmsg, which the runtime needs to hand over the listener');
  }
  rule.optional('errnoRet')?.integer(U32);
  rule.optional('args')?.items().forEach(checkSyscallArg);
  return notify;
}

function checkSyscallArg(field: Checker): void {
  const arg = field.object();
  // System calls have at most six arguments.
  arg.required('index').integer(range(0, 5));
  arg.optional('value')?.integer(U64);
  arg.optional('valueTwo')?.integer(U64);
  arg.required('op').oneOf(SECCOMP_OPERATORS, 'seccomp operator');
}

function checkIntelRdt(field: Checker): void {
  const intelRdt = field.object();
  intelRdt.optional('closID')?.cString();
  intelRdt.optional('schemata')?.items().forEach((line) => line.cString());
  intelRdt.optional('enableMonitoring')?.boolean();
  intelRdt.optional('l3CacheSchema')?.string();
  intelRdt.optional('memBwSchema')?.string();
  intelRdt.optional('enableCMT')?.boolean();
  intelRdt.optional('enableMBM')?.boolean();
}

function checkPersonality(field: Checker): void {
  const personality = field.object();
  personality.required('domain').oneOf(PERSONALITY_DOMAINS, 'personality domain');
  personality.optional('flags')?.items().forEach((flag) => flag.string());
}
