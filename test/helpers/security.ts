// Helpers for the attack tests (test/integration/security-*.test.ts): the
// attack fixtures compiled at test time, and fingerprints of the host files
// an attack must not change.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { native } from '../../lib/native/binding.js';

const CACHE_DIR = path.join(os.tmpdir(), 'tsbox-test-cache');

/** Compiles test/fixtures/<name>.c statically (once per source version); returns the binary. */
export function buildFixture(name: string): string {
  const src = path.resolve(__dirname, '..', 'fixtures', `${name}.c`);
  const hash = crypto.createHash('sha1').update(fs.readFileSync(src)).digest('hex');
  const out = path.join(CACHE_DIR, `${name}-${hash}`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const tmp = `${out}.tmp-${process.pid}`;
    try {
      execFileSync('gcc', ['-static', '-O2', '-o', tmp, src], { stdio: 'pipe' });
      fs.renameSync(tmp, out);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  }
  return out;
}

/** Copies a fixture binary into a bundle's rootfs as /bin/<name>. */
export function installFixture(rootfs: string, name: string): void {
  fs.copyFileSync(buildFixture(name), path.join(rootfs, 'bin', name));
  fs.chmodSync(path.join(rootfs, 'bin', name), 0o755);
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** The host executables a container must never be able to change: node, the addon, the helper. */
export function runtimeFiles(): Record<string, string> {
  const helper = native().helperPath;
  const files = [process.execPath, path.join(path.dirname(helper), 'tsbox.node'), helper];
  return Object.fromEntries(files.map((f) => [f, sha256(f)]));
}

/** Names and contents of every file under dir (for "the host directory is unchanged"). */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else if (e.isSymbolicLink()) out[r] = `-> ${fs.readlinkSync(p)}`;
      else out[r] = fs.readFileSync(p, 'latin1');
    }
  };
  walk(dir, '');
  return out;
}

/** The result the exe-attack fixture prints. */
export interface AttackTally {
  attempts: number;
  opened: number;
  errors: Record<string, number>;
}
export interface AttackReport {
  self: number;
  /** By what the exe link read as: attempts while scanning, and through the kept O_PATH descriptors at the end. */
  targets: Record<string, { now: AttackTally; late: AttackTally }>;
}
