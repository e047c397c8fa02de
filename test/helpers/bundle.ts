// Helpers for integration tests: the probe binary, throwaway OCI bundles with
// a busybox rootfs, and host-side views (mounts, child processes) used to
// check that a test left nothing behind.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const isRoot = process.getuid?.() === 0;

// One per user: root's is closed to an unprivileged run of the unit tests.
const CACHE_DIR = path.join(os.tmpdir(), isRoot ? 'tsbox-test-cache' : `tsbox-test-cache-${process.getuid?.()}`);
const PROBE_SRC = path.resolve(__dirname, '..', 'fixtures', 'probe.c');
const BUSYBOX = '/bin/busybox';

// Bump when the template layout below changes, so stale caches are ignored.
const TEMPLATE_VERSION = '2';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n';
const GROUP = 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n';

function sha1(data: string | Buffer): string {
  return crypto.createHash('sha1').update(data).digest('hex');
}

function tmpName(final: string): string {
  return `${final}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

// Moves a finished temp file/dir into place. Another worker may have won the
// race; its result is equivalent, so ours is simply discarded.
function publish(tmp: string, final: string): void {
  try {
    fs.renameSync(tmp, final);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

let probePath: string | undefined;

/** Compiles test/fixtures/probe.c (once per source version) and returns the binary path. */
export function buildProbe(): string {
  if (probePath && fs.existsSync(probePath)) return probePath;
  const out = path.join(CACHE_DIR, `probe-${sha1(fs.readFileSync(PROBE_SRC))}`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    // Compile under a private name: a half-written binary must never be
    // visible under the final name to a concurrent worker.
    const tmp = tmpName(out);
    try {
      execFileSync('gcc', ['-static', '-O2', '-o', tmp, PROBE_SRC], { stdio: 'pipe' });
      publish(tmp, out);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  probePath = out;
  return out;
}

// ---- rootfs template ------------------------------------------------------

type Entry =
  | { kind: 'dir'; rel: string; mode: number }
  | { kind: 'link'; rel: string; src: string; target: string }
  | { kind: 'file'; rel: string; src: string; mode: number; size: number };

interface Template {
  dir: string;
  entries: Entry[]; // parents always precede children
}

let template: Template | undefined;

function buildTemplateDir(final: string): void {
  const tmp = tmpName(final);
  try {
    const dirs: [string, number][] = [
      ['', 0o755], ['bin', 0o755], ['proc', 0o555], ['sys', 0o555], ['dev', 0o755],
      ['etc', 0o755], ['tmp', 0o1777], ['root', 0o700],
    ];
    for (const [rel, mode] of dirs) {
      const p = path.join(tmp, rel);
      fs.mkdirSync(p, { recursive: true });
      fs.chmodSync(p, mode); // mkdir's mode is filtered by umask and drops sticky
    }
    // Copy, never hardlink, the host's busybox: bundles hardlink the template,
    // and a container writing /bin/busybox must not reach the host's binary.
    fs.copyFileSync(BUSYBOX, path.join(tmp, 'bin', 'busybox'));
    fs.chmodSync(path.join(tmp, 'bin', 'busybox'), 0o755);
    // Ask busybox for its applets rather than chrooting into the rootfs.
    const applets = execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
      .split('\n')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'busybox' && !s.includes('/'));
    for (const name of applets) fs.symlinkSync('busybox', path.join(tmp, 'bin', name));
    fs.writeFileSync(path.join(tmp, 'etc', 'passwd'), PASSWD, { mode: 0o644 });
    fs.writeFileSync(path.join(tmp, 'etc', 'group'), GROUP, { mode: 0o644 });
    publish(tmp, final);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// Reads the template tree once so each bundle is a flat list of syscalls.
function scan(root: string): Entry[] {
  const entries: Entry[] = [];
  const walk = (rel: string): void => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const r = path.join(rel, name);
      const abs = path.join(root, r);
      const st = fs.lstatSync(abs);
      if (st.isDirectory()) {
        entries.push({ kind: 'dir', rel: r, mode: st.mode & 0o7777 });
        walk(r);
      } else if (st.isSymbolicLink()) {
        entries.push({ kind: 'link', rel: r, src: abs, target: fs.readlinkSync(abs) });
      } else {
        entries.push({ kind: 'file', rel: r, src: abs, mode: st.mode & 0o7777, size: st.size });
      }
    }
  };
  entries.push({ kind: 'dir', rel: '', mode: fs.statSync(root).mode & 0o7777 });
  walk('');
  return entries;
}

function getTemplate(): Template {
  if (template && fs.existsSync(template.dir)) return template;
  const st = fs.statSync(BUSYBOX);
  const key = sha1(`${TEMPLATE_VERSION}:${st.mtimeMs}:${st.size}:${PASSWD}:${GROUP}`);
  const dir = path.join(CACHE_DIR, `rootfs-${key.slice(0, 16)}`);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    buildTemplateDir(dir);
  }
  template = { dir, entries: scan(dir) };
  return template;
}

// Hardlinks are much cheaper than copying 2 MB per bundle, but they share
// the inode with the cache: only the big binaries are linked, so tests must
// not modify /bin/busybox or /bin/probe in place. Small files (etc/passwd...)
// are copied so tests may edit them freely. Linking falls back to a copy when
// impossible (e.g. the cache is on another filesystem).
const LINK_MIN_SIZE = 256 * 1024;

function copyFile(src: string, dest: string, mode: number): void {
  fs.copyFileSync(src, dest);
  fs.chmodSync(dest, mode);
}

function linkOrCopy(src: string, dest: string, mode: number): void {
  try {
    fs.linkSync(src, dest);
  } catch {
    copyFile(src, dest, mode);
  }
}

function replicate(t: Template, dest: string): void {
  for (const e of t.entries) {
    const p = path.join(dest, e.rel);
    if (e.kind === 'dir') {
      fs.mkdirSync(p);
      fs.chmodSync(p, e.mode);
    } else if (e.kind === 'link') {
      // link(2) does not follow symlinks: hardlinking the template's symlink
      // is ~20x cheaper than symlink(2) here, and symlinks are immutable.
      try {
        fs.linkSync(e.src, p);
      } catch {
        fs.symlinkSync(e.target, p);
      }
    } else if (e.size >= LINK_MIN_SIZE) {
      linkOrCopy(e.src, p, e.mode);
    } else {
      copyFile(e.src, p, e.mode);
    }
  }
}

// ---- bundles ----------------------------------------------------------------

export interface TestBundle {
  dir: string;
  rootfs: string;
  configPath: string;
  config: any;
  write(): void;
  cleanup(): void;
}

export interface BundleOptions {
  args?: string[];
  mutate?: (config: any) => void;
  withProbe?: boolean;
}

/** A minimal runc-like default config (like `runc spec`, without the rlimits/caps lists). */
export function defaultConfig(args: string[] = ['/bin/probe']): any {
  return {
    ociVersion: '1.2.0',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'tsbox-test',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev', type: 'tmpfs', source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts', type: 'devpts', source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      {
        destination: '/dev/shm', type: 'tmpfs', source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys', type: 'sysfs', source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [],
      readonlyPaths: [],
    },
  };
}

/** Creates a bundle dir with a busybox rootfs (plus /bin/probe) and config.json. */
export function makeBundle(opts: BundleOptions = {}): TestBundle {
  const t = getTemplate();
  const probe = opts.withProbe === false ? undefined : buildProbe();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-bundle-'));
  const rootfs = path.join(dir, 'rootfs');
  const configPath = path.join(dir, 'config.json');
  try {
    replicate(t, rootfs);
    if (probe) linkOrCopy(probe, path.join(rootfs, 'bin', 'probe'), 0o755);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  const bundle: TestBundle = {
    dir,
    rootfs,
    configPath,
    config: defaultConfig(opts.args ? [...opts.args] : undefined),
    write() {
      fs.writeFileSync(configPath, JSON.stringify(bundle.config, null, 2) + '\n');
    },
    cleanup() {
      if (!fs.existsSync(dir)) return;
      // A recursive delete walks into mounts: a leaked bind mount of a host
      // directory under the bundle would have its contents deleted.
      const real = fs.realpathSync(dir);
      const live = hostMounts().filter((m) => m === real || m.startsWith(real + '/'));
      if (live.length > 0) {
        throw new Error(`refusing to remove ${dir}: mounts still present: ${live.join(', ')}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  opts.mutate?.(bundle.config);
  bundle.write();
  return bundle;
}

// ---- host-side inspection ---------------------------------------------------

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points visible in this process's mount namespace, in mountinfo order. */
export function hostMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => unescapeMountField(l.split(' ')[4] ?? ''));
}

/** Direct children of pid (all threads' children lists, deduplicated). */
/** Host pids running as `uid` (real uid, from /proc/<pid>/status). */
export function pidsOf(uid: number): number[] {
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const line = fs.readFileSync(`/proc/${name}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'));
      if (line && Number(line.split(/\s+/)[1]) === uid) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

export function childPids(pid: number = process.pid): number[] {
  const found = new Set<number>();
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const tid of tasks) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread exited while we looked
    }
    for (const s of text.split(/\s+/)) if (s) found.add(Number(s));
  }
  return [...found].sort((a, b) => a - b);
}

function isUnder(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir + '/');
}

/**
 * Pids whose root or cwd is under dir (best effort, for leak checks).
 * readlink of /proc/<pid>/root is useless for a process that pivot_root'ed in
 * another mount namespace, so also match by device+inode against dir and
 * dir/rootfs, which is what a container's root is normally a mount of.
 */
export function processesUnder(dir: string): number[] {
  let real: string;
  try {
    real = fs.realpathSync(dir);
  } catch {
    return [];
  }
  const ids = new Set<string>();
  for (const p of [real, path.join(real, 'rootfs')]) {
    try {
      const st = fs.statSync(p);
      ids.add(`${st.dev}:${st.ino}`);
    } catch {
      // no rootfs: the readlink check still applies
    }
  }
  const pids: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    for (const link of ['root', 'cwd']) {
      try {
        const target = fs.readlinkSync(`/proc/${pid}/${link}`);
        const st = fs.statSync(`/proc/${pid}/${link}`);
        if (isUnder(target, real) || ids.has(`${st.dev}:${st.ino}`)) {
          pids.push(pid);
          break;
        }
      } catch {
        // exited, a kernel thread, or not ours to inspect
      }
    }
  }
  return pids;
}
