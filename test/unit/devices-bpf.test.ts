// The cgroup2 device program compiler (lib/cgroups/devices-bpf.ts): the
// compiled instructions, run by a small interpreter, must decide every
// access exactly as the rules read plainly do (the last matching rule wins,
// nothing matched: deny), for hand-written cases and for many random rule
// lists; and the encoding must be the kernel's struct bpf_insn.

import { describe, expect, it } from 'vitest';
import {
  compileDeviceProgram,
  deviceRules,
  encodeProgram,
  runDeviceProgram,
  type DeviceRule,
} from '../../lib/cgroups/devices-bpf.js';

const BITS: Record<string, number> = { m: 1, r: 2, w: 4 };
const bits = (a: string) => [...a].reduce((n, c) => n | BITS[c]!, 0);

/** The rules read plainly, independently of the compiler's pruning and grouping. */
function plainly(rules: DeviceRule[], type: 'c' | 'b', major: number, minor: number, access: string): boolean {
  const want = bits(access);
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i]!;
    if (r.type !== 'a' && (r.type !== type || (r.major !== undefined && r.major !== major) || (r.minor !== undefined && r.minor !== minor))) continue;
    const matches = r.allow ? (want & ~r.access) === 0 : (want & r.access) !== 0;
    if (matches) return r.allow;
  }
  return false;
}

function allows(rules: DeviceRule[], type: 'c' | 'b', major: number, minor: number, access: string): boolean {
  return runDeviceProgram(compileDeviceProgram(rules), type, major, minor, access);
}

/** What `docker run` puts in linux.resources.devices. */
const DOCKER = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
  { allow: true, type: 'c', major: 136, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' },
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
] as const;

describe('cgroup2 device program', () => {
  it("Docker's rules plus the defaults: its devices and ptys are allowed, others denied, mknod of anything allowed", () => {
    const rules = deviceRules(DOCKER);
    expect(allows(rules, 'c', 1, 3, 'rw')).toBe(true); // /dev/null
    expect(allows(rules, 'c', 1, 9, 'r')).toBe(true); // urandom
    expect(allows(rules, 'c', 136, 7, 'rw')).toBe(true); // a pty
    expect(allows(rules, 'c', 5, 2, 'rw')).toBe(true); // ptmx
    expect(allows(rules, 'c', 1, 1, 'r')).toBe(false); // /dev/mem
    expect(allows(rules, 'c', 10, 229, 'rw')).toBe(false); // fuse
    expect(allows(rules, 'b', 8, 0, 'r')).toBe(false);
    expect(allows(rules, 'b', 8, 0, 'm')).toBe(true);
    expect(allows(rules, 'c', 4, 1, 'm')).toBe(true);
    expect(allows(rules, 'c', 4, 1, 'rm')).toBe(false);
    // Pruned and grouped: far fewer instructions than 5 per rule.
    expect(compileDeviceProgram(rules).length).toBeLessThan(45);
  });

  it('the last matching rule wins; an allow needs every access asked for, a deny any of them', () => {
    const r = deviceRules([{ allow: true, type: 'c', major: 1, minor: 11, access: 'r' }]);
    expect(allows(r, 'c', 1, 11, 'r')).toBe(true);
    expect(allows(r, 'c', 1, 11, 'rw')).toBe(false);
    const d = deviceRules([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }]);
    // The defaults re-allow 1:3 after the config's deny.
    expect(allows(d, 'c', 1, 3, 'rw')).toBe(true);
    const d2 = deviceRules([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 4, access: 'w' }]);
    expect(allows(d2, 'c', 4, 1, 'r')).toBe(true);
    expect(allows(d2, 'c', 4, 1, 'rw')).toBe(false);
    expect(allows(d2, 'c', 4, 1, 'w')).toBe(false);
    expect(allows(d2, 'b', 4, 1, 'w')).toBe(true);
  });

  it('an allow-all rule ends the list: what comes before it decides nothing', () => {
    const rules = deviceRules([{ allow: false, type: 'c', major: 1, minor: 1, access: 'rwm' }, { allow: true, access: 'rwm' }]);
    expect(allows(rules, 'c', 1, 1, 'r')).toBe(true);
    expect(compileDeviceProgram(rules)).toHaveLength(2); // r0 = 1; exit
  });

  it('a device allowed for reading only (docker --device HOST:CONTAINER:r) opens for reading, not for writing', () => {
    const rules = deviceRules([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'r' }]);
    expect(allows(rules, 'c', 10, 229, 'r')).toBe(true);
    expect(allows(rules, 'c', 10, 229, 'w')).toBe(false);
    expect(allows(rules, 'c', 10, 229, 'rw')).toBe(false);
  });

  it("no rules (a container without linux.resources.devices): runc's default policy, the standard nodes and nothing else", () => {
    const rules = deviceRules([]);
    for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 2], [136, 4], [10, 200]] as const) {
      expect(allows(rules, 'c', major, minor, 'rw')).toBe(true);
    }
    expect(allows(rules, 'c', 5, 1, 'r')).toBe(false); // the host's system console
    expect(allows(rules, 'c', 1, 2, 'r')).toBe(false); // /dev/kmem
    expect(allows(rules, 'c', 1, 1, 'w')).toBe(false); // /dev/mem
    expect(allows(rules, 'b', 8, 0, 'r')).toBe(false);
    expect(allows(rules, 'b', 8, 0, 'm')).toBe(true);
  });

  it('random rule lists: the program decides every access as the plain reading does', () => {
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const accesses = ['m', 'r', 'w', 'rw', 'rm', 'wm', 'rwm'];
    for (let t = 0; t < 300; t++) {
      const rules: DeviceRule[] = Array.from({ length: rand(12) }, () => ({
        allow: rand(2) === 0,
        type: ['a', 'c', 'b'][rand(3)]!,
        major: rand(3) === 0 ? undefined : rand(3),
        minor: rand(3) === 0 ? undefined : rand(3),
        access: bits(accesses[rand(7)]!),
      }));
      for (const type of ['c', 'b'] as const) {
        for (let major = 0; major < 4; major++) {
          for (let minor = 0; minor < 4; minor++) {
            for (const a of accesses) {
              expect(allows(rules, type, major, minor, a), `${JSON.stringify(rules)} ${type} ${major}:${minor} ${a}`).toBe(
                plainly(rules, type, major, minor, a),
              );
            }
          }
        }
      }
    }
  });

  it('encodes struct bpf_insn: code, dst | src << 4, off (s16 LE), imm (s32 LE)', () => {
    const buf = encodeProgram([{ code: 0x61, dst: 2, src: 1, off: 4, imm: 0 }, { code: 0x55, dst: 4, src: 0, off: -1, imm: 136 }]);
    expect([...buf]).toEqual([0x61, 0x12, 4, 0, 0, 0, 0, 0, 0x55, 0x04, 0xff, 0xff, 136, 0, 0, 0]);
  });
});
