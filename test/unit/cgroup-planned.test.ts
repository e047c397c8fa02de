// The cgroups a create records before it makes them (lib/cgroups/manager.ts:
// plannedCgroups, makeCgroups, removeCreated), on plain directories standing
// in for a hierarchy: what a killed create leaves is exactly what the record
// names, and only what tsbox made is ever removed.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Layout } from '../../lib/cgroups/layout.js';
import { makeCgroups, plannedCgroups, removeCreated } from '../../lib/cgroups/manager.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Two stand-in v1 hierarchies (pids, memory) under a temp dir. */
function layout(): { layout: Layout; pids: string; memory: string } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-cg-plan-'));
  dirs.push(root);
  const pids = path.join(root, 'pids');
  const memory = path.join(root, 'memory');
  fs.mkdirSync(pids);
  fs.mkdirSync(memory);
  const hierarchy = (mountPoint: string, controller: string) => ({
    mount: { mountPoint, root: '/', fstype: 'cgroup' as const, controllers: [controller] },
    key: controller,
    own: '/',
  });
  return { layout: { kind: 'v1', hierarchies: [hierarchy(pids, 'pids'), hierarchy(memory, 'memory')] }, pids, memory };
}

describe('plannedCgroups / makeCgroups', () => {
  it('names every directory it will make, deepest first, before making any; a parent that exists is not named', () => {
    const { layout: l, pids, memory } = layout();
    fs.mkdirSync(path.join(pids, 'pod'));
    const cg = plannedCgroups(l, { pids: path.join(pids, 'pod', 'c1'), memory: path.join(memory, 'pod', 'c1') });
    expect(cg.driver).toBe('cgroupfs');
    expect(cg.created).toEqual([path.join(pids, 'pod', 'c1'), path.join(memory, 'pod', 'c1'), path.join(memory, 'pod')]);
    expect(fs.existsSync(path.join(memory, 'pod'))).toBe(false);
    makeCgroups(l, cg);
    for (const d of cg.created) expect(fs.statSync(d).isDirectory()).toBe(true);
    expect(removeCreated(cg)).toBeUndefined();
    expect(fs.readdirSync(memory)).toEqual([]);
    expect(fs.readdirSync(pids)).toEqual(['pod']);
  });

  it('a directory someone else made between plan and make is not ours: it leaves `created` and stays', () => {
    const { layout: l, pids, memory } = layout();
    const cg = plannedCgroups(l, { pids: path.join(pids, 'c2'), memory: path.join(memory, 'c2') });
    fs.mkdirSync(path.join(memory, 'c2'));
    makeCgroups(l, cg);
    expect(cg.created).toEqual([path.join(pids, 'c2')]);
    removeCreated(cg);
    expect(fs.existsSync(path.join(memory, 'c2'))).toBe(true);
    expect(fs.existsSync(path.join(pids, 'c2'))).toBe(false);
  });

  it('a create killed half-way: removing what the plan named skips what was never made', () => {
    const { layout: l, pids, memory } = layout();
    const cg = plannedCgroups(l, { pids: path.join(pids, 'a', 'b'), memory: path.join(memory, 'a', 'b') });
    // Only the first directories were made when the create died.
    fs.mkdirSync(path.join(pids, 'a'));
    fs.mkdirSync(path.join(pids, 'a', 'b'));
    expect(removeCreated(cg)).toBeUndefined();
    expect([fs.readdirSync(pids), fs.readdirSync(memory)]).toEqual([[], []]);
  });

  it('a failure to make one removes those made before it and keeps the errno', () => {
    const { layout: l, pids, memory } = layout();
    fs.writeFileSync(path.join(memory, 'file'), '');
    const cg = plannedCgroups(l, { pids: path.join(pids, 'c3'), memory: path.join(memory, 'file', 'c3') });
    expect(() => makeCgroups(l, cg)).toThrow(expect.objectContaining({ name: 'TsboxError', code: 'ENOTDIR', message: expect.stringMatching(/^create cgroup: ENOTDIR/) }));
    expect(fs.readdirSync(pids)).toEqual([]);
  });
});
