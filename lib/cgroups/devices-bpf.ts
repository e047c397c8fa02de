import type { LinuxDeviceCgroup, LinuxResources } from '../oci/types.js';
import { TsboxError } from '../errors.js';
import { native } from '../native/binding.js';
import type { Cgroups } from './manager.js';
import { ALWAYS_ALLOWED, devicesNeedBpf, wildcard } from './resources.js';
import type { Layout } from './layout.js';

/**
 * linux.resources.devices as an eBPF program for cgroup2, which has no
 * devices.allow/deny files: the kernel runs a BPF_PROG_TYPE_CGROUP_DEVICE
 * program attached to the cgroup on every open or mknod of a device node,
 * and refuses the access (EPERM) when it returns 0. native/bpf.cc loads and
 * attaches what this module compiles.
 *
 * Meaning of the rules, as runc gives them on cgroup2: the config's rules in
 * order, then the devices every container gets (ALWAYS_ALLOWED; the nodes
 * in linux.devices get only what the rules give them), and the last rule
 * that matches an access decides it; an access no rule matches is denied. An allow rule matches when it
 * grants every kind of access asked for (an open for reading and writing
 * needs a rule with both r and w); a deny rule when it names any of them.
 * A rule of type "a" matches every device whatever its major and minor.
 *
 * Program layout. The context is struct bpf_cgroup_dev_ctx { u32
 * access_type; u32 major; u32 minor; }, access_type being (access << 16) |
 * type, with type 1 block, 2 char and access bits 1 mknod, 2 read, 4 write.
 *
 *   prologue:
 *     r2 = ctx->access_type & 0xffff        device type
 *     r3 = ctx->access_type >> 16           access asked for
 *     r4 = ctx->major
 *     r5 = ctx->minor
 *   the rules, the last one first, as runs of rules with the same decision
 *   (within a run the order does not matter, so its rules are grouped by
 *   type and major):
 *     if r2 != TYPE goto next type          once per type ("a": no check)
 *       one rule:
 *       allow: if r3 & ~ACCESS goto next rule           (not for "rwm")
 *       deny:  r1 = r3 & ACCESS; if r1 == 0 goto next rule
 *       if r4 != MAJOR goto next rule; if r5 == MINOR goto decided
 *       (a wildcard drops its check; no checks left: goto decided)
 *       several full-access rules with one major share the major check:
 *       if r4 != MAJOR goto next; if r5 == M1 goto decided; if r5 == M2 ...
 *     goto next run
 *     decided: r0 = 1 (allow) or 0 (deny); exit
 *   epilogue: r0 = 0; exit                  (nothing matched: deny)
 * Before that the rules are pruned: a rule that a later one covers (it
 * matches every access the earlier one does) can decide nothing, a rule
 * that matches everything ("a" with rwm) ends the list and becomes the
 * epilogue, and the earliest rules that decide what the epilogue would go.
 * The kernel's verifier walks every branch, at a few microseconds per
 * instruction here, so the program's length is most of a start's cost.
 */

/** One device rule with the wildcards spelt out. */
export interface DeviceRule {
  allow: boolean;
  /** 'a', 'c' or 'b'. */
  type: string;
  /** undefined: any. */
  major: number | undefined;
  minor: number | undefined;
  /** Bits: 1 mknod, 2 read, 4 write. */
  access: number;
}

const ACCESS_BITS: Record<string, number> = { m: 1, r: 2, w: 4 };
const ALL_ACCESS = 7;
const TYPE_CODE: Record<string, number> = { b: 1, c: 2 };

function accessBits(access: string | undefined): number {
  let bits = 0;
  for (const ch of access ?? 'rwm') bits |= ACCESS_BITS[ch] ?? 0;
  return bits;
}

/** A rule in devices.allow syntax ("c 1:3 rwm", "c *:* m") as a DeviceRule. */
function parseRule(text: string): DeviceRule {
  const [type = 'a', numbers = '*:*', access = 'rwm'] = text.split(' ');
  const [major, minor] = numbers.split(':').map((n) => (n === '*' ? undefined : Number(n)));
  return { allow: true, type, major, minor, access: accessBits(access) };
}

/** The rules the program enforces, in order: the config's, then what every container may use. */
export function deviceRules(devices: readonly LinuxDeviceCgroup[]): DeviceRule[] {
  const fromConfig = devices.map((d) => ({
    allow: d.allow,
    type: d.type ?? 'a',
    major: wildcard(d.major),
    minor: wildcard(d.minor),
    access: accessBits(d.access),
  }));
  const always = ALWAYS_ALLOWED.map(parseRule);
  return [...fromConfig, ...always];
}

// eBPF opcodes (linux/bpf.h, linux/bpf_common.h).
const LDX_MEM_W = 0x61;
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_K = 0xb4;
const ALU32_MOV_X = 0xbc;
const JMP_JA = 0x05;
const JMP_JEQ_K = 0x15;
const JMP_JNE_K = 0x55;
const JMP_JSET_K = 0x45;
const JMP_EXIT = 0x95;

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

/** Instructions with forward jumps to labels, resolved once the labels are placed. */
class Assembler {
  private readonly insns: (Insn & { target?: number })[] = [];
  private readonly at: number[] = [];

  label(): number {
    this.at.push(-1);
    return this.at.length - 1;
  }

  place(label: number): void {
    this.at[label] = this.insns.length;
  }

  op(code: number, dst: number, src: number, off: number, imm: number): void {
    this.insns.push({ code, dst, src, off, imm });
  }

  jump(code: number, dst: number, imm: number, target: number): void {
    this.insns.push({ code, dst, src: 0, off: 0, imm, target });
  }

  finish(): Insn[] {
    return this.insns.map(({ target, ...i }, n) => (target === undefined ? i : { ...i, off: this.at[target]! - n - 1 }));
  }
}

/** Major and minor numbers are u32 in the context; a larger one (or one the 32-bit immediate cannot hold) names no device. */
const fits = (n: number | undefined) => n === undefined || n <= 0x7fffffff;
const matchesEverything = (r: DeviceRule) => r.type === 'a' && r.access === ALL_ACCESS;
const sameType = (a: DeviceRule, b: DeviceRule) => b.type === 'a' || a.type === b.type;

/** Whether `later` matches every access `earlier` matches (so `earlier` never decides). */
function covers(later: DeviceRule, earlier: DeviceRule): boolean {
  if (!sameType(earlier, later)) return false;
  if (later.type !== 'a') {
    if (later.major !== undefined && later.major !== earlier.major) return false;
    if (later.minor !== undefined && later.minor !== earlier.minor) return false;
  }
  // A deny rule matches any access touching its bits, an allow rule only
  // accesses within its bits: a later allow covers an earlier deny only if it allows everything.
  if (later.allow && !earlier.allow) return later.access === ALL_ACCESS;
  return (earlier.access & ~later.access) === 0;
}

/**
 * The rules that can decide something, last first, as runs with one
 * decision, and what an access none of them matches gets.
 */
function decidingRuns(rules: readonly DeviceRule[]): { runs: DeviceRule[][]; fallback: boolean } {
  const kept: DeviceRule[] = [];
  let fallback = false;
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    if (!fits(r.major) || !fits(r.minor) || r.access === 0 || (r.type !== 'a' && TYPE_CODE[r.type] === undefined)) continue;
    if (matchesEverything(r)) {
      fallback = r.allow;
      break;
    }
    if (!kept.some((later) => covers(later, r))) kept.push(r);
  }
  while (kept.length > 0 && kept[kept.length - 1]!.allow === fallback) kept.pop();
  const runs: DeviceRule[][] = [];
  for (const r of kept) {
    const run = runs[runs.length - 1];
    if (run && run[0]!.allow === r.allow) run.push(r);
    else runs.push([r]);
  }
  return { runs, fallback };
}

/** One run: every rule in it leads to `decided`; falling off the end means none matched. */
function emitRun(asm: Assembler, run: DeviceRule[]): void {
  const decision = run[0]!.allow;
  const decided = asm.label();
  const nextRun = asm.label();
  // Within a run order does not matter: group by type, then major.
  const key = (r: DeviceRule) => `${r.type}:${r.major ?? -1}`;
  const sorted = [...run].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  let i = 0;
  while (i < sorted.length) {
    const type = sorted[i]!.type;
    const nextType = asm.label();
    if (type !== 'a') asm.jump(JMP_JNE_K, 2, TYPE_CODE[type]!, nextType);
    for (; i < sorted.length && sorted[i]!.type === type; ) {
      const r = sorted[i]!;
      // Full-access rules with one major and each a minor: one major check for all of them.
      const shared: DeviceRule[] = [];
      for (let j = i; j < sorted.length && type !== 'a'; j++) {
        const s = sorted[j]!;
        if (s.type !== type || s.major !== r.major || r.major === undefined || s.minor === undefined || s.access !== ALL_ACCESS) break;
        shared.push(s);
      }
      const nextRule = asm.label();
      if (shared.length > 1) {
        asm.jump(JMP_JNE_K, 4, r.major!, nextRule);
        for (const s of shared) asm.jump(JMP_JEQ_K, 5, s.minor!, decided);
        asm.place(nextRule);
        i += shared.length;
        continue;
      }
      if (r.access !== ALL_ACCESS) {
        if (r.allow) {
          asm.jump(JMP_JSET_K, 3, ~r.access & ALL_ACCESS, nextRule);
        } else {
          asm.op(ALU32_MOV_X, 1, 3, 0, 0);
          asm.op(ALU32_AND_K, 1, 0, 0, r.access);
          asm.jump(JMP_JEQ_K, 1, 0, nextRule);
        }
      }
      const checks: [number, number][] = [];
      if (type !== 'a' && r.major !== undefined) checks.push([4, r.major]);
      if (type !== 'a' && r.minor !== undefined) checks.push([5, r.minor]);
      if (checks.length === 0) {
        asm.jump(JMP_JA, 0, 0, decided);
      } else {
        checks.slice(0, -1).forEach(([reg, n]) => asm.jump(JMP_JNE_K, reg, n, nextRule));
        const [reg, n] = checks[checks.length - 1]!;
        asm.jump(JMP_JEQ_K, reg, n, decided);
      }
      asm.place(nextRule);
      i++;
    }
    asm.place(nextType);
  }
  asm.jump(JMP_JA, 0, 0, nextRun);
  asm.place(decided);
  asm.op(ALU32_MOV_K, 0, 0, 0, decision ? 1 : 0);
  asm.op(JMP_EXIT, 0, 0, 0, 0);
  asm.place(nextRun);
}

/** The program for these rules as instructions (see the layout above). */
export function compileDeviceProgram(rules: readonly DeviceRule[]): Insn[] {
  const asm = new Assembler();
  const { runs, fallback } = decidingRuns(rules);
  if (runs.length > 0) {
    asm.op(LDX_MEM_W, 2, 1, 0, 0);
    asm.op(ALU32_AND_K, 2, 0, 0, 0xffff);
    asm.op(LDX_MEM_W, 3, 1, 0, 0);
    asm.op(ALU32_RSH_K, 3, 0, 0, 16);
    asm.op(LDX_MEM_W, 4, 1, 4, 0);
    asm.op(LDX_MEM_W, 5, 1, 8, 0);
  }
  for (const run of runs) emitRun(asm, run);
  asm.op(ALU32_MOV_K, 0, 0, 0, fallback ? 1 : 0);
  asm.op(JMP_EXIT, 0, 0, 0, 0);
  return asm.finish();
}

/** struct bpf_insn[] as the kernel reads it: code, dst:4|src:4, off (s16), imm (s32), little-endian. */
export function encodeProgram(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * 8);
  insns.forEach((i, n) => {
    buf.writeUInt8(i.code, n * 8);
    buf.writeUInt8((i.src << 4) | i.dst, n * 8 + 1);
    buf.writeInt16LE(i.off, n * 8 + 2);
    buf.writeInt32LE(i.imm | 0, n * 8 + 4);
  });
  return buf;
}

/**
 * What the program decides for one access: the same rules evaluated in
 * JavaScript by running the instructions. For the unit tests, which check
 * the compiled program itself and not a second reading of the rules.
 */
export function runDeviceProgram(insns: readonly Insn[], type: 'c' | 'b', major: number, minor: number, access: string): boolean {
  const ctx = [((accessBits(access) << 16) | TYPE_CODE[type]!) >>> 0, major >>> 0, minor >>> 0];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0; pc < insns.length; pc++) {
    const i = insns[pc]!;
    switch (i.code) {
      case LDX_MEM_W: r[i.dst] = ctx[i.off / 4]!; break;
      case ALU32_AND_K: r[i.dst] = (r[i.dst]! & i.imm) >>> 0; break;
      case ALU32_RSH_K: r[i.dst] = r[i.dst]! >>> i.imm; break;
      case ALU32_MOV_K: r[i.dst] = i.imm >>> 0; break;
      case ALU32_MOV_X: r[i.dst] = r[i.src]!; break;
      case JMP_JA: pc += i.off; break;
      case JMP_JEQ_K: if (r[i.dst] === i.imm) pc += i.off; break;
      case JMP_JNE_K: if (r[i.dst] !== i.imm) pc += i.off; break;
      case JMP_JSET_K: if ((r[i.dst]! & i.imm) !== 0) pc += i.off; break;
      case JMP_EXIT: return r[0] === 1;
      default: throw new Error(`unknown opcode ${i.code}`);
    }
  }
  throw new Error('the program ran off its end');
}

/**
 * Puts the device program for these rules on a cgroup2 directory: attached
 * to a new cgroup (create), or in place of tsbox's previous program
 * (update). Fails with the kernel's reason (and the verifier's, for a
 * program it rejects).
 */
export function attachDeviceProgram(dir: string, devices: readonly LinuxDeviceCgroup[], replace: boolean): void {
  const program = encodeProgram(compileDeviceProgram(deviceRules(devices)));
  try {
    native().attachDeviceProgram(dir, program, replace);
  } catch (err) {
    throw new TsboxError(`linux.resources.devices: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The device rules of linux.resources where only a program can enforce
 * them: a host whose devices controller is not mounted as v1 (pure cgroup2,
 * or hybrid without it). Where v1's devices controller is there (this
 * machine's hybrid layout), its files enforce the rules, as runc does on
 * such hosts, and no program is loaded: loading one costs most of what the
 * rules cost a start. Returns a warning when the host has neither.
 */
export function applyDevicePolicy(layout: Layout, cg: Cgroups, resources: LinuxResources, update: boolean): string | undefined {
  if (!devicesNeedBpf(layout, resources)) return undefined;
  const dir = cg.dirs[''];
  if (dir === undefined) {
    const what = resources.devices!.length > 0 ? 'linux.resources.devices is' : 'the default device policy (deny all but the standard nodes) is';
    return `${what} not enforced: this host has neither a v1 devices controller nor cgroup2`;
  }
  // A cgroup that existed before may carry tsbox's program from an earlier container.
  attachDeviceProgram(dir, resources.devices!, update || !cg.created.includes(dir));
  return undefined;
}
