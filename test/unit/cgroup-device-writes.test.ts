// v1 device rule writes (lib/cgroups/resources.ts): after a deny-all the
// cgroup's list is known, so rules that would change nothing are not
// written (Docker's list and the defaults every container gets overlap).
// A deny-all always goes first, as runc's policy starts from nothing allowed.

import { describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { resourceWrites } from '../../lib/cgroups/resources.js';

const V1: Layout = {
  kind: 'v1',
  hierarchies: [{ key: 'devices', own: '/', mount: { mountPoint: '/sys/fs/cgroup/devices', root: '/', fstype: 'cgroup', controllers: ['devices'] } }],
};

const rules = (devices: object[]) =>
  resourceWrites(V1, { devices } as never).writes.map((w) => `${w.file.replace('devices.', '')} ${w.value}`);

const c = (major: number, minor?: number, access = 'rwm') => ({ allow: true, type: 'c', major, minor, access });

describe('v1 device rule writes', () => {
  it("Docker's list: each device allowed once, the deny of a device nothing allows dropped, the defaults not repeated", () => {
    const docker = [
      { allow: false, access: 'rwm' },
      c(1, 5), c(1, 3), c(1, 9), c(1, 8), c(5, 0), c(5, 1),
      { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
      c(136), c(5, 2), c(10, 200),
      { allow: true, type: 'c', access: 'm' },
      { allow: true, type: 'b', access: 'm' },
    ];
    expect(rules(docker)).toEqual([
      'deny a',
      'allow c 1:5 rwm', 'allow c 1:3 rwm', 'allow c 1:9 rwm', 'allow c 1:8 rwm', 'allow c 5:0 rwm', 'allow c 5:1 rwm',
      'allow c 136:* rwm', 'allow c 5:2 rwm', 'allow c 10:200 rwm', 'allow c *:* m', 'allow b *:* m',
      // The only default Docker does not list.
      'allow c 1:7 rwm',
    ]);
  });

  it('a deny overlapping an allowed rule is written, and the rule is allowed again by the defaults after it', () => {
    expect(rules([{ allow: false, access: 'rwm' }, c(1, 3), { allow: false, type: 'c', major: 1, minor: 3, access: 'w' }])).toEqual([
      'deny a', 'allow c 1:3 rwm', 'deny c 1:3 w',
      'allow c *:* m', 'allow b *:* m', 'allow c 1:3 rwm', 'allow c 1:5 rwm', 'allow c 1:7 rwm', 'allow c 1:8 rwm', 'allow c 1:9 rwm',
      'allow c 5:0 rwm', 'allow c 5:2 rwm', 'allow c 136:* rwm', 'allow c 10:200 rwm',
    ]);
  });

  it('without a deny-all in the config, one goes first (runc starts from nothing allowed): the rules apply on top of it', () => {
    const out = rules([c(1, 3), { allow: false, type: 'c', major: 4, access: 'w' }]);
    // The deny of 4:* overlaps nothing allowed any more: not written.
    expect(out.slice(0, 3)).toEqual(['deny a', 'allow c 1:3 rwm', 'allow c *:* m']);
    expect(out.filter((r) => r === 'allow c 1:3 rwm')).toHaveLength(1);
  });

  it("no rules at all (a new container without linux.resources.devices): runc's default policy, never the parent's list", () => {
    expect(rules([])).toEqual([
      'deny a',
      'allow c *:* m', 'allow b *:* m', 'allow c 1:3 rwm', 'allow c 1:5 rwm', 'allow c 1:7 rwm', 'allow c 1:8 rwm', 'allow c 1:9 rwm',
      'allow c 5:0 rwm', 'allow c 5:2 rwm', 'allow c 136:* rwm', 'allow c 10:200 rwm',
    ]);
  });

  it('a device the rules give read access only keeps that: nothing after the rules widens it (as runc)', () => {
    expect(rules([{ allow: false, access: 'rwm' }, c(10, 229, 'r')]).filter((r) => r.includes('10:229'))).toEqual(['allow c 10:229 r']);
  });
});
