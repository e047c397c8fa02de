// Attacks by a racing sibling that shares a directory with the container (a
// volume, or the rootfs itself): while the container starts, a host process
// swaps the name the runtime mounts on between a directory and a symlink
// elsewhere (renameat2(RENAME_EXCHANGE) in a tight loop, test/fixtures/
// swap-race.c). Any change the runtime makes to a mount by looking its path
// up again (a read-only remount, masking, read-only paths) can then land on
// another mount. The same racer swaps a volume's directory while `tsbox
// exec --cwd` enters it. Each race is run many times; from inside, the container
// checks what it got, without ever writing where a write could reach the
// host (`probe open PATH w` opens for writing and writes nothing).

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../lib/run.js';
import { isRoot, type TestBundle } from '../helpers/bundle.js';
import { tsbox } from '../helpers/cli.js';
import { containerSession, readAll } from '../helpers/containers.js';
import { buildFixture, snapshot } from '../helpers/security.js';

// More with TSBOX_RACE_TRIES (to see a race lost on a build without the fix).
const TRIES = Number(process.env.TSBOX_RACE_TRIES ?? 200);
/** An exec is a whole CLI run (~0.3 s here): fewer of them. */
const EXEC_TRIES = Math.max(20, Math.floor(TRIES / 4));
/** What `probe write` and `probe open ... w` print when the mount is read-only. */
const EROFS = '{"ok":false,"errno":30,"error":"Read-only file system"}';

interface MountLine {
  root: string;
  target: string;
  options: string[];
}

function parseMountinfo(text: string): MountLine[] {
  return text
    .split('\n')
    .filter((l) => /^\d+ \d+ /.test(l))
    .map((l) => {
      const f = l.split(' ');
      return { root: f[3]!, target: f[4]!, options: f[5]!.split(',') };
    });
}

describe.skipIf(!isRoot)('attacks by a racing sibling sharing a directory with the container', () => {
  const s = containerSession();

  /** The racer on `dir`, running and swapping `name` and `other`; stop() leaves the directory at `name`. */
  async function startRacer(dir: string, name: string, other: string): Promise<{ stop(): Promise<number> }> {
    const child = spawn(buildFixture('swap-race'), [dir, name, other], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = readAll(child.stdout);
    const err = readAll(child.stderr);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    s.onCleanup(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    // Started swapping once it printed "ready": wait for its first line.
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', () => reject(new Error('swap-race ended before it was ready')));
    });
    return {
      async stop() {
        child.kill('SIGTERM');
        const code = await exited;
        expect({ code, stderr: await err }).toEqual({ code: 0, stderr: '' });
        return Number((await out).trim().split('\n').pop());
      },
    };
  }

  /**
   * Starts the bundle while the racer swaps `name` and `other` in `dir`,
   * then stops the racer (the directory back under `name`) and lets the
   * container's process (which first reads a line) go on. Its output, or the
   * error that refused the start.
   */
  async function racedStart(b: TestBundle, dir: string, name: string, other: string): Promise<{ stdout: string; swaps: number } | { error: string; swaps: number }> {
    const racer = await startRacer(dir, name, other);
    let c;
    try {
      c = await s.start(b, { stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (err) {
      return { error: (err as Error).message, swaps: await racer.stop() };
    }
    const swaps = await racer.stop();
    const stdout = readAll(c.stdout);
    const stderr = readAll(c.stderr);
    c.stdin!.end('go\n');
    const status = await c.exited;
    expect({ status: status.status, stderr: await stderr }).toEqual({ status: 0, stderr: '' });
    return { stdout: await stdout, swaps };
  }

  it(`a read-only bind in a shared volume, its destination swapped for a symlink to another mount (${TRIES} tries): the bind is always read-only, nothing else is`, async () => {
    const volume = s.tempDir('tsbox-volume-');
    fs.mkdirSync(path.join(volume, 'd'));
    fs.symlinkSync('/other', path.join(volume, 'd.link'));
    const source = s.tempDir('tsbox-ro-source-');
    fs.writeFileSync(path.join(source, 'marker'), 'source\n');
    const sourceBefore = snapshot(source);
    const b = s.bundle();
    b.config.mounts.push(
      { destination: '/other', type: 'tmpfs', source: 'tmpfs', options: ['size=1m'] },
      { destination: '/vol', type: 'bind', source: volume, options: ['rbind'] },
      { destination: '/vol/d', type: 'bind', source, options: ['bind', 'ro'] },
    );
    // Every mount of the source, wherever it ended up, is tried for a write.
    const base = path.basename(source);
    b.config.process.args = ['sh', '-c', `read go; cat /proc/self/mountinfo; echo ---
      for t in $(awk '{ if ($4 ~ /\\/${base}$/) print $5 }' /proc/self/mountinfo); do echo "$t $(/bin/probe write "$t/written" x)"; done`];
    b.write();

    // The mounts that are read-only without the racer (/sys, ...), the bind aside.
    const isSource = (m: MountLine) => m.root.endsWith(`/${base}`);
    const readOnly = (mounts: MountLine[]) => mounts.filter((m) => !isSource(m) && m.options.includes('ro')).map((m) => m.target).sort();
    const calm = await s.collect(b, { input: 'go\n' });
    expect(calm.stderr).toBe('');
    const calmMounts = parseMountinfo(calm.stdout);
    expect(calmMounts.filter(isSource).map((m) => m.target)).toEqual(['/vol/d']);
    expect(calm.stdout.split('---\n')[1]).toBe(`/vol/d ${EROFS}\n`);
    const baseline = readOnly(calmMounts);

    const tally = { atDestination: 0, elsewhere: 0, swaps: 0 };
    const failures: string[] = [];
    for (let i = 0; i < TRIES; i++) {
      const r = await racedStart(b, volume, 'd', 'd.link');
      tally.swaps += r.swaps;
      if ('error' in r) {
        failures.push(`try ${i}: refused: ${r.error}`);
        continue;
      }
      const [mountinfo, writes] = r.stdout.split('---\n') as [string, string];
      const mounts = parseMountinfo(mountinfo);
      const binds = mounts.filter(isSource);
      if (binds.some((m) => m.target === '/vol/d')) tally.atDestination++;
      else tally.elsewhere++;
      for (const m of binds) {
        if (!m.options.includes('ro')) failures.push(`try ${i}: the bind at ${m.target} is writable (${m.options.join(',')})`);
      }
      if (binds.length === 0) failures.push(`try ${i}: the bind is missing`);
      for (const line of writes.trim().split('\n').filter(Boolean)) {
        if (!line.endsWith(` ${EROFS}`)) failures.push(`try ${i}: write into the bind at ${line}`);
      }
      const ro = readOnly(mounts);
      if (JSON.stringify(ro) !== JSON.stringify(baseline)) failures.push(`try ${i}: read-only mounts ${ro.join(' ')} (without the race: ${baseline.join(' ')})`);
    }
    console.log(`ro bind race: ${JSON.stringify(tally)}`);
    expect(failures).toEqual([]);
    expect(snapshot(source)).toEqual(sourceBefore);
  }, 120_000);

  it(`a volume's directory swapped for a symlink climbing to /tmp while \`tsbox exec --cwd\` enters it (${EXEC_TRIES} execs): the cwd is always inside the container, never the host's /tmp`, async () => {
    // The same name on the host's /tmp and in the rootfs's: a cwd resolved
    // on the host (or from a host directory) would land in the host's one.
    const hostDir = s.tempDir('tsbox-exec-escape-');
    const name = path.basename(hostDir);
    const volume = s.tempDir('tsbox-volume-');
    fs.mkdirSync(path.join(volume, 'd'));
    fs.symlinkSync(`${'../'.repeat(12)}tmp/${name}`, path.join(volume, 'd.link'));
    const b = s.bundle();
    fs.mkdirSync(path.join(b.rootfs, 'tmp', name), { recursive: true });
    b.config.mounts.push({ destination: '/vol', type: 'bind', source: volume, options: ['rbind'] });
    b.config.process.args = ['sleep', '1000'];
    b.write();
    const id = `exec-race-${process.pid}`;
    expect(await tsbox(['run', '-d', '--bundle', b.dir, id])).toMatchObject({ status: 0, stderr: '' });
    s.onCleanup(async () => {
      await tsbox(['delete', '--force', id]);
    });
    const racer = await startRacer(volume, 'd', 'd.link');
    const tally = { inVolume: 0, inContainerTmp: 0, refused: 0, swaps: 0 };
    const failures: string[] = [];
    try {
      for (let i = 0; i < EXEC_TRIES; i++) {
        const r = await tsbox(['exec', '--cwd', '/vol/d', id, 'sh', '-c', `pwd -P; touch written-${i}`]);
        if (r.status !== 0) {
          tally.refused++;
          if (!/^tsbox: [^\n]+\n$/.test(r.stderr)) failures.push(`try ${i}: status ${r.status}, not a one-line error: ${JSON.stringify(r.stderr)}`);
        } else if (r.stdout === '/vol/d\n' || r.stdout === '/vol/d.link\n') tally.inVolume++;
        else if (r.stdout === `/tmp/${name}\n`) tally.inContainerTmp++;
        else failures.push(`try ${i}: cwd ${JSON.stringify(r.stdout)}`);
      }
    } finally {
      tally.swaps = await racer.stop();
    }
    console.log(`exec cwd race: ${JSON.stringify(tally)}`);
    expect(failures).toEqual([]);
    expect(fs.readdirSync(hostDir)).toEqual([]);
    expect(tally.inVolume + tally.inContainerTmp).toBeGreaterThan(0);
    // Where the execs that ran wrote: the volume's directory (entered under
    // either name, as the names were exchanged) or the rootfs's /tmp one.
    const written = [...fs.readdirSync(path.join(volume, 'd')), ...fs.readdirSync(path.join(b.rootfs, 'tmp', name))];
    expect(written.length).toBe(tally.inVolume + tally.inContainerTmp);
  }, 120_000);

  describe('/proc and /sys destinations that are symlinks (CVE-2025-52881 class)', () => {
    for (const [dir, type] of [['proc', 'proc'], ['sys', 'sysfs']] as const) {
      it(`a rootfs whose /${dir} is a symlink into a volume: refused in one line (library and CLI), nothing left behind`, async () => {
        const volume = s.tempDir('tsbox-volume-');
        fs.mkdirSync(path.join(volume, dir));
        const b = s.bundle();
        b.config.mounts.push({ destination: '/vol', type: 'bind', source: volume, options: ['rbind'] });
        // The test's mounts have /vol after /proc and /sys: move it first, as an attacker would.
        b.config.mounts.unshift(b.config.mounts.pop());
        fs.rmSync(path.join(b.rootfs, dir), { recursive: true, force: true });
        fs.symlinkSync(`vol/${dir}`, path.join(b.rootfs, dir));
        b.write();
        const rootfsBefore = fs.readdirSync(b.rootfs).sort();
        const message = `mount "${type}" on "/${dir}": "/${dir}" is a symlink or under one (procfs and sysfs are mounted only on a directory reached without symlinks)`;
        await expect(run(b.dir, { stdio: 'ignore' })).rejects.toThrow(message);
        const cli = await tsbox(['run', b.dir]);
        expect({ status: cli.status, stdout: cli.stdout, stderr: cli.stderr }).toEqual({ status: 1, stdout: '', stderr: `tsbox: ${message}\n` });
        expect((await tsbox(['list', '-q'])).stdout).toBe('');
        expect(fs.readdirSync(b.rootfs).sort()).toEqual(rootfsBefore);
        expect(fs.readdirSync(volume)).toEqual([dir]);
        expect(fs.readdirSync(path.join(volume, dir))).toEqual([]);
      });
    }
  });

  it(`the rootfs's /proc swapped for a symlink while the container starts (${TRIES} tries): procfs is masked and /proc/sys read-only, or the start is refused`, async () => {
    const corePattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8');
    const b = s.bundle();
    // The sibling's view: /proc.link leads to an empty directory, where no
    // masked or read-only path exists. (This host's kernel has no /proc/kcore.)
    fs.mkdirSync(path.join(b.rootfs, 'fake'));
    fs.symlinkSync('/fake', path.join(b.rootfs, 'proc.link'));
    b.config.linux.maskedPaths = ['/proc/keys', '/proc/timer_list', '/proc/acpi'];
    b.config.linux.readonlyPaths = ['/proc/sys', '/proc/fs'];
    // From inside: wherever procfs ended up, its masks and read-only paths.
    b.config.process.args = ['sh', '-c', `read go
      for p in /proc /fake; do
        [ "$(stat -f -c %T $p)" = proc ] || continue
        echo "procfs at $p"; stat -c "%n %t:%T" $p/keys $p/timer_list; stat -f -c "%n %T" $p/acpi
        awk -v p=$p '$5 == p "/sys" || $5 == p "/fs" { print $5, substr($6, 1, 2) }' $p/self/mountinfo
        echo "$p/sys/kernel/core_pattern $(/bin/probe open $p/sys/kernel/core_pattern w)"
      done`];
    b.write();
    const good = `/proc/keys 1:3\n/proc/timer_list 1:3\n/proc/acpi tmpfs\n/proc/sys ro\n/proc/fs ro\n/proc/sys/kernel/core_pattern ${EROFS}\n`;
    const calm = await s.collect(b, { input: 'go\n' });
    expect(calm).toMatchObject({ status: 0, stderr: '', stdout: `procfs at /proc\n${good}` });

    const tally = { started: 0, refused: 0, swaps: 0 };
    const failures: string[] = [];
    for (let i = 0; i < TRIES; i++) {
      const r = await racedStart(b, b.rootfs, 'proc', 'proc.link');
      tally.swaps += r.swaps;
      if ('error' in r) {
        tally.refused++;
        if (r.error.includes('\n')) failures.push(`try ${i}: a multi-line error: ${r.error}`);
        continue;
      }
      tally.started++;
      if (r.stdout !== `procfs at /proc\n${good}`) failures.push(`try ${i}: ${JSON.stringify(r.stdout)}`);
    }
    console.log(`/proc race: ${JSON.stringify(tally)}`);
    expect(failures).toEqual([]);
    expect(tally.started).toBeGreaterThan(0);
    expect(fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8')).toBe(corePattern);
    expect(fs.readdirSync(path.join(b.rootfs, 'fake'))).toEqual([]);
  }, 120_000);
});
