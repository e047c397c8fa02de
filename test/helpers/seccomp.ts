// Helpers for the seccomp tests: the seccomp-agent fixture (a stand-in for a
// linux.seccomp.listenerPath agent), and the host's list of system calls.

import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const CACHE_DIR = path.join(os.tmpdir(), 'tsbox-test-cache');
const AGENT_SRC = path.resolve(__dirname, '..', 'fixtures', 'seccomp-agent.c');

/** Compiles test/fixtures/seccomp-agent.c (once per source version) and returns the binary's path. */
export function buildSeccompAgent(): string {
  const source = fs.readFileSync(AGENT_SRC);
  const out = path.join(CACHE_DIR, `seccomp-agent-${crypto.createHash('sha1').update(source).digest('hex')}`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  // Under a private name first: a concurrent worker must never run a half-written binary.
  const tmp = `${out}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  try {
    execFileSync('gcc', ['-O2', '-Wall', '-Werror', '-o', tmp, AGENT_SRC], { stdio: 'pipe' });
    fs.renameSync(tmp, out);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return out;
}

/** Every x86_64 system call name the host's kernel headers know. */
export function hostSyscallNames(): string[] {
  const header = fs.readFileSync('/usr/include/x86_64-linux-gnu/asm/unistd_64.h', 'utf8');
  return [...header.matchAll(/^#define __NR_(\w+)\s+\d+/gm)].map((m) => m[1]!);
}

/** libseccomp's version from its header, as "2.5.4". */
export function libseccompHeaderVersion(): string {
  const header = fs.readFileSync('/usr/include/seccomp.h', 'utf8');
  const part = (name: string) => header.match(new RegExp(`#define SCMP_VER_${name}\\s+(\\d+)`))![1];
  return ['MAJOR', 'MINOR', 'MICRO'].map(part).join('.');
}
