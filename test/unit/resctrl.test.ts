// linux.intelRdt: the request planned from the config, and the resctrl
// writer (lib/resctrl.ts) run against a temporary directory laid out like a
// resctrl mount (info/, schemata, tasks, mon_groups): no host of this
// project has RDT hardware, so the writer never ran on a real resctrl here.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LinuxIntelRdt } from '../../lib/oci/types.js';
import { planIntelRdt } from '../../lib/plan/intel-rdt.js';
import { checkResctrl, joinResctrl, removeResctrl, resctrlRoot, updateSchemata, type ResctrlGroup } from '../../lib/resctrl.js';

describe('planIntelRdt (linux.intelRdt)', () => {
  it('the group is closID, else the container\'s id; l3CacheSchema and memBwSchema in one write, then schemata\'s lines in another', () => {
    expect(planIntelRdt({ l3CacheSchema: 'L3:0=ff', memBwSchema: 'MB:0=50', schemata: ['L2:0=f', '', 'L3:0=f0'] }, 'c1')).toEqual({
      group: 'c1',
      named: false,
      schemataWrites: ['L3:0=ff\nMB:0=50', 'L2:0=f\nL3:0=f0'],
      needs: [
        { field: 'linux.intelRdt.l3CacheSchema', info: 'L3' },
        { field: 'linux.intelRdt.memBwSchema', info: 'MB' },
      ],
    });
    expect(planIntelRdt({ closID: 'gold', enableMonitoring: true, enableCMT: true, enableMBM: true }, 'c1')).toEqual({
      group: 'gold',
      named: true,
      schemataWrites: [],
      monitorAs: 'c1',
      needs: [
        { field: 'linux.intelRdt.enableMonitoring', info: 'L3_MON' },
        { field: 'linux.intelRdt.enableCMT', monFeature: ['llc_occupancy'] },
        { field: 'linux.intelRdt.enableMBM', monFeature: ['mbm_total_bytes', 'mbm_local_bytes'] },
      ],
    });
    expect(planIntelRdt(undefined, 'c1')).toBeUndefined();
  });

  it.each([
    ['a closID that is a path', { closID: '../x' }, 'linux.intelRdt.closID: "../x" is not a resctrl group name'],
    ['the closID "."', { closID: '.' }, 'linux.intelRdt.closID: "." is not a resctrl group name'],
    ['an empty closID', { closID: '' }, 'linux.intelRdt.closID: "" is not a resctrl group name'],
    ['a schemata line with a newline', { schemata: ['L3:0=f\nMB:0=5'] }, 'linux.intelRdt.schemata[0]: must be one line'],
    ['an l3CacheSchema with a newline', { l3CacheSchema: 'L3:0=f\n' }, 'linux.intelRdt.l3CacheSchema: must be one line'],
  ])('%s: an error naming the field', (_, rdt, message) => {
    expect(() => planIntelRdt(rdt, 'c1')).toThrow(message);
  });
});

describe('resctrlRoot', () => {
  it('the mount point of the first resctrl filesystem in mountinfo (escapes undone), or none', () => {
    const cgroup = '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw';
    const resctrl = '41 25 0:38 / /sys/fs/res\\040ctrl rw,relatime shared:20 - resctrl resctrl rw,mba_MBps';
    expect(resctrlRoot([cgroup, resctrl, ''].join('\n'))).toBe('/sys/fs/res ctrl');
    expect(resctrlRoot(`${cgroup}\n`)).toBeUndefined();
  });
});

describe('the resctrl writer, on a directory laid out like resctrl', () => {
  let root: string;
  const PID = 4242;

  /** What resctrl has at its root (and in a group made beforehand): info/ and the root group's files. */
  function layOut(opts: { monitoring?: string[] } = {}): void {
    for (const d of ['info/L3', 'info/MB']) fs.mkdirSync(path.join(root, d), { recursive: true });
    fs.writeFileSync(path.join(root, 'info', 'last_cmd_status'), 'ok\n');
    if (opts.monitoring) {
      fs.mkdirSync(path.join(root, 'info', 'L3_MON'));
      fs.writeFileSync(path.join(root, 'info', 'L3_MON', 'mon_features'), opts.monitoring.map((f) => `${f}\n`).join(''));
      fs.mkdirSync(path.join(root, 'mon_groups'));
    }
    fs.writeFileSync(path.join(root, 'schemata'), '    L3:0=fff\n    MB:0=100\n');
    fs.writeFileSync(path.join(root, 'tasks'), '1\n');
  }

  /** A group made beforehand (by an administrator) with these schemata. */
  function existingGroup(name: string, schemata: string): string {
    const dir = path.join(root, name);
    fs.mkdirSync(path.join(dir, 'mon_groups'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'schemata'), schemata);
    fs.writeFileSync(path.join(dir, 'tasks'), '');
    return dir;
  }

  const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), 'utf8');

  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-resctrl-'));
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('a group named after the container: made, its schemata written (two writes, in order), the init\'s pid in tasks; removed with the container', () => {
    layOut();
    const req = planIntelRdt({ l3CacheSchema: 'L3:0=f', memBwSchema: 'MB:0=20', schemata: ['L3:0=3'] }, 'ctr1')!;
    const made: ResctrlGroup[] = [];
    const g = joinResctrl(root, req, PID, (group) => made.push({ ...group }));
    expect(g).toEqual({ dir: path.join(root, 'ctr1'), made: true });
    // Told before the directory was made (a killed runtime's record has it).
    expect(made).toEqual([{ dir: path.join(root, 'ctr1'), made: true }]);
    // A plain file keeps the last write (resctrl merges them per resource):
    // schemata's line came after the l3CacheSchema and memBwSchema one.
    expect(read('ctr1', 'schemata')).toBe('L3:0=3\n');
    expect(read('ctr1', 'tasks')).toBe(String(PID));
    // The root group is untouched.
    expect(read('schemata')).toBe('    L3:0=fff\n    MB:0=100\n');
    removeResctrl(g);
    expect(fs.existsSync(path.join(root, 'ctr1'))).toBe(false);
    // Gone already is fine (delete after a failed create).
    removeResctrl(g);
  });

  it('closID of a group that exists with the same schemata (as the kernel shows them): joined, not rewritten, with a monitoring group of the container\'s; only the monitoring group goes', () => {
    layOut({ monitoring: ['llc_occupancy', 'mbm_total_bytes'] });
    const dir = existingGroup('gold', '    L3:0=00f;1=0f0\n    MB:0=20;1=100\n');
    const req = planIntelRdt({ closID: 'gold', l3CacheSchema: 'L3:1=f0;0=f', enableMonitoring: true, enableCMT: true, enableMBM: true }, 'ctr2')!;
    const g = joinResctrl(root, req, PID);
    expect(g).toEqual({ dir, made: false, shared: true, monDir: path.join(dir, 'mon_groups', 'ctr2') });
    expect(read('gold', 'schemata')).toBe('    L3:0=00f;1=0f0\n    MB:0=20;1=100\n');
    expect(read('gold', 'tasks')).toBe(String(PID));
    expect(read('gold', 'mon_groups', 'ctr2', 'tasks')).toBe(String(PID));
    removeResctrl(g);
    expect(fs.existsSync(path.join(dir, 'mon_groups', 'ctr2'))).toBe(false);
    expect(fs.existsSync(dir)).toBe(true);
  });

  it('closID of a group that exists with other schemata: one line, nothing written, nothing made', () => {
    layOut({ monitoring: ['llc_occupancy'] });
    existingGroup('gold', 'L3:0=00f\nMB:0=20\n');
    const req = planIntelRdt({ closID: 'gold', memBwSchema: 'MB:0=30', enableMonitoring: true }, 'ctr3')!;
    expect(() => joinResctrl(root, req, PID)).toThrow(
      'linux.intelRdt: the resctrl group "gold" exists with other schemata than the config\'s ("L3:0=00f\\nMB:0=20"); a shared group is not rewritten',
    );
    expect(read('gold', 'tasks')).toBe('');
    expect(fs.readdirSync(path.join(root, 'gold', 'mon_groups'))).toEqual([]);
  });

  it('closID alone of a group that does not exist: one line (it must be made beforehand), nothing made', () => {
    layOut();
    expect(() => joinResctrl(root, planIntelRdt({ closID: 'nope' }, 'ctr4')!, PID)).toThrow(
      `linux.intelRdt.closID: no resctrl group "nope" in ${root} (with no schemata to write it must exist beforehand)`,
    );
    expect(fs.existsSync(path.join(root, 'nope'))).toBe(false);
  });

  it('closID with schemata of a group that does not exist: made and written; removed with the container once nobody is in it (a closID group may be shared)', () => {
    layOut();
    const g = joinResctrl(root, planIntelRdt({ closID: 'silver', schemata: ['L3:0=f'] }, 'ctr5')!, PID);
    expect(g).toEqual({ dir: path.join(root, 'silver'), made: true, shared: true });
    expect(read('silver', 'schemata')).toBe('L3:0=f\n');
    // Another container joined it (resctrl lists every task of the group):
    // it stays when this one goes.
    fs.writeFileSync(path.join(root, 'silver', 'tasks'), '4343\n');
    removeResctrl(g);
    expect(fs.existsSync(path.join(root, 'silver'))).toBe(true);
    // Nobody left: it goes.
    fs.writeFileSync(path.join(root, 'silver', 'tasks'), '');
    removeResctrl(g);
    expect(fs.existsSync(path.join(root, 'silver'))).toBe(false);
  });

  it('closID made by another container at the same moment (mkdir: EEXIST): joined as one that was there, compared, not removed by this one', () => {
    layOut();
    const told: ResctrlGroup[] = [];
    const g = joinResctrl(root, planIntelRdt({ closID: 'bronze', l3CacheSchema: 'L3:0=f' }, 'ctr10')!, PID, (group) => {
      told.push({ ...group });
      if (group.made) existingGroup('bronze', 'L3:0=f\n');
    });
    expect(told).toEqual([{ dir: path.join(root, 'bronze'), made: true, shared: true }, { dir: path.join(root, 'bronze'), made: false, shared: true }]);
    expect(g).toEqual({ dir: path.join(root, 'bronze'), made: false, shared: true });
    expect(read('bronze', 'tasks')).toBe(String(PID));
    fs.writeFileSync(path.join(root, 'bronze', 'tasks'), '');
    removeResctrl(g);
    expect(fs.existsSync(path.join(root, 'bronze'))).toBe(true);
  });

  it.each<[string, LinuxIntelRdt, () => void, RegExp]>([
    ['memBwSchema without MBA', { memBwSchema: 'MB:0=50' }, () => fs.rmSync(path.join(root, 'info', 'MB'), { recursive: true }), /^linux\.intelRdt\.memBwSchema: cannot be applied: the resctrl filesystem at .* has no info\/MB/],
    ['enableMonitoring without monitoring', { enableMonitoring: true }, () => undefined, /^linux\.intelRdt\.enableMonitoring: cannot be applied: .* has no info\/L3_MON/],
    ['enableMBM without bandwidth monitoring', { enableMBM: true }, () => {
      fs.mkdirSync(path.join(root, 'info', 'L3_MON'));
      fs.writeFileSync(path.join(root, 'info', 'L3_MON', 'mon_features'), 'llc_occupancy\n');
    }, /^linux\.intelRdt\.enableMBM: cannot be applied: .* does not monitor mbm_total_bytes or mbm_local_bytes/],
  ])('%s on this resctrl: one line naming the field, before anything is made', (_, rdt, change, message) => {
    layOut();
    change();
    const req = planIntelRdt(rdt, 'ctr6')!;
    expect(() => checkResctrl(root, req)).toThrow(message);
    expect(() => joinResctrl(root, req, PID)).toThrow(message);
    expect(fs.existsSync(path.join(root, 'ctr6'))).toBe(false);
  });

  it('a step that fails after the group was made: one line with what resctrl said (info/last_cmd_status), and the group it made is removed', () => {
    layOut({ monitoring: ['llc_occupancy'] });
    fs.writeFileSync(path.join(root, 'info', 'last_cmd_status'), 'out of RMIDs\n');
    const req = planIntelRdt({ schemata: ['L3:0=1'], enableMonitoring: true }, 'ctr7')!;
    const told: ResctrlGroup[] = [];
    const monDir = path.join(root, 'ctr7', 'mon_groups', 'ctr7');
    expect(() =>
      joinResctrl(root, req, PID, (g) => {
        told.push({ ...g });
        // Told of the monitoring group before it is made: a file in the way
        // makes its mkdir fail, as resctrl's would without a free RMID.
        if (g.monDir) fs.writeFileSync(path.join(root, 'ctr7', 'mon_groups'), '');
      }),
    ).toThrow(new RegExp(`^linux\\.intelRdt: make monitoring group "${monDir}": (ENOTDIR|EEXIST) \\(resctrl: out of RMIDs\\)$`));
    expect(told).toEqual([{ dir: path.join(root, 'ctr7'), made: true }, { dir: path.join(root, 'ctr7'), made: true, monDir }]);
    expect(fs.existsSync(path.join(root, 'ctr7'))).toBe(false);
  });

  it('update --l3-cache-schema: the container\'s own group gets the lines; a closID group (maybe shared) is not rewritten', () => {
    layOut();
    const own = joinResctrl(root, planIntelRdt({ l3CacheSchema: 'L3:0=f' }, 'ctr8')!, PID);
    updateSchemata(own, 'L3:0=3\nMB:0=40');
    expect(read('ctr8', 'schemata')).toBe('L3:0=3\nMB:0=40\n');
    const dir = existingGroup('gold', 'L3:0=f\n');
    const shared = joinResctrl(root, planIntelRdt({ closID: 'gold' }, 'ctr9')!, PID);
    expect(() => updateSchemata(shared, 'L3:0=3')).toThrow(`linux.intelRdt: the resctrl group "${dir}" is named by closID and may be shared by other containers: it is not rewritten`);
    expect(read('gold', 'schemata')).toBe('L3:0=f\n');
  });
});
