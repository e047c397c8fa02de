import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { CompiledSeccomp, PlannedSeccomp } from './plan/plan.js';

/**
 * Compiled seccomp programs, cached per profile.
 *
 * libseccomp needs 5-25 ms to build a long profile such as Docker's default
 * (more than everything else a start costs), and Docker, containerd and
 * Podman send the same profile with every container. The helper compiles a
 * profile once (its compile mode, native/helper/main.cc); the program is
 * kept in memory for this Node process and, under a state root, on disk
 * (<root>/.seccomp/<key>.bpf), and every start loads it as it is.
 *
 * The key is a fast non-cryptographic hash (loading node:crypto costs the
 * CLI ~3 ms) of the normalized profile and the helper's identity; since such
 * a hash may collide, the full key text is stored with the program and
 * compared on every use. The helper's identity (its inode, size and mtime)
 * also stands for the libseccomp version, which is linked into it
 * statically: a rebuilt helper never uses programs an older one made.
 */

/** Compiles a profile (the helper's compile mode; lib/launch.ts). */
export type SeccompCompiler = (seccomp: PlannedSeccomp) => Promise<CompiledSeccomp>;

/** Counts for tests and diagnostics: how each program was obtained in this process. */
export const seccompCacheStats = { compiled: 0, fromMemory: 0, fromDisk: 0 };

const FORMAT = 1;
const MAGIC = Buffer.from('tsbxbpf\x01', 'latin1');
const HEADER = 24;
const TRAILER = 8;
/** Far above any program the kernel takes (4096 instructions) plus a long key. */
const MAX_FILE = 4 << 20;

/**
 * The part of a profile that decides the program, as text: actions
 * canonical (SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD), errnos filled in, rules
 * split as the helper takes them (./plan/seccomp.ts). Not listenerPath and
 * listenerMetadata (the runtime's business, not the filter's), nor the JSON
 * paths rules carry for messages.
 */
export function normalizedSeccomp(s: PlannedSeccomp): string {
  return JSON.stringify([
    FORMAT,
    s.defaultAction,
    s.defaultErrno,
    s.architectures,
    s.flags,
    s.rules.map((r) => [r.name, r.action, r.errno, r.args.map((a) => [a.index, a.op, a.value, a.valueTwo])]),
  ]);
}

/** Two 32-bit FNV-1a lanes with different seeds, as 16 hex digits. */
export function fastHash(text: string | Buffer): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = typeof text === 'string' ? text.charCodeAt(i) : text[i]!;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** The helper's identity: a rebuilt or replaced helper has another. */
function helperIdentity(helper: string): string {
  const st = statSync(helper, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}`;
}

/** The full cache key: the helper, then the profile. */
export function seccompKeyText(s: PlannedSeccomp, helper: string): string {
  return `${helperIdentity(helper)}\n${normalizedSeccomp(s)}`;
}

const memory = new Map<string, { keyText: string; compiled: CompiledSeccomp }>();

/**
 * The compiled program of a profile: from memory, from `cacheDir` (when
 * given), or compiled now and stored in both.
 */
export async function compiledSeccomp(
  s: PlannedSeccomp,
  helper: string,
  compile: SeccompCompiler,
  cacheDir?: string,
): Promise<CompiledSeccomp> {
  const keyText = seccompKeyText(s, helper);
  const key = fastHash(keyText);
  const held = memory.get(key);
  if (held && held.keyText === keyText) {
    seccompCacheStats.fromMemory++;
    return held.compiled;
  }
  let compiled = cacheDir !== undefined && isOwnDir(cacheDir) ? readCached(cacheFile(cacheDir, key), keyText) : undefined;
  if (compiled) {
    seccompCacheStats.fromDisk++;
  } else {
    compiled = await compile(s);
    seccompCacheStats.compiled++;
    if (cacheDir !== undefined) writeCached(cacheDir, key, keyText, compiled);
  }
  memory.set(key, { keyText, compiled });
  return compiled;
}

/** Forgets the programs held in memory (tests). */
export function clearSeccompMemoryCache(): void {
  memory.clear();
}

/**
 * The cache directory of a state root: a name no container id can take
 * (lib/container-id.ts reserves it), and without a state.json it is never
 * listed as a container.
 */
export function seccompCacheDir(stateRoot: string): string {
  return path.join(stateRoot, '.seccomp');
}

export function cacheFile(cacheDir: string, key: string): string {
  return path.join(cacheDir, `${key}.bpf`);
}

const pad8 = (n: number) => (n + 7) & ~7;

/**
 * The file: magic (8 bytes); program length, load flags; key text length,
 * skipped-names length (u32 LE each); the program; the key text and the
 * skipped names ("\n"-separated), each padded to 8 bytes; a trailer of
 * fastHash over everything before it. Every part's length is checked
 * against the file's, so a truncated or padded file is refused.
 */
export function encodeCacheFile(keyText: string, c: CompiledSeccomp): Buffer {
  const key = Buffer.from(keyText, 'utf8');
  const unknown = Buffer.from(c.unknown.join('\n'), 'utf8');
  const size = HEADER + c.program.length + pad8(key.length) + pad8(unknown.length) + TRAILER;
  const out = Buffer.alloc(size);
  MAGIC.copy(out, 0);
  out.writeUInt32LE(c.program.length, 8);
  out.writeUInt32LE(c.loadFlags, 12);
  out.writeUInt32LE(key.length, 16);
  out.writeUInt32LE(unknown.length, 20);
  let at = HEADER;
  at += c.program.copy(out, at);
  key.copy(out, at);
  at += pad8(key.length);
  unknown.copy(out, at);
  at += pad8(unknown.length);
  out.write(fastHash(out.subarray(0, at)), at, 'hex');
  return out;
}

/** The program in a cache file, or undefined if it is not a whole, intact file for exactly `keyText`. */
export function decodeCacheFile(buf: Buffer, keyText: string): CompiledSeccomp | undefined {
  if (buf.length < HEADER + TRAILER || buf.length % 8 !== 0 || !buf.subarray(0, 8).equals(MAGIC)) return undefined;
  const programLength = buf.readUInt32LE(8);
  const loadFlags = buf.readUInt32LE(12);
  const keyLength = buf.readUInt32LE(16);
  const unknownLength = buf.readUInt32LE(20);
  if (programLength === 0 || programLength % 8 !== 0) return undefined;
  if (HEADER + programLength + pad8(keyLength) + pad8(unknownLength) + TRAILER !== buf.length) return undefined;
  const end = buf.length - TRAILER;
  if (buf.toString('hex', end) !== fastHash(buf.subarray(0, end))) return undefined;
  const keyAt = HEADER + programLength;
  if (buf.toString('utf8', keyAt, keyAt + keyLength) !== keyText) return undefined;
  const unknownAt = keyAt + pad8(keyLength);
  const unknown = buf.toString('utf8', unknownAt, unknownAt + unknownLength);
  return {
    program: Buffer.from(buf.subarray(HEADER, keyAt)),
    loadFlags,
    unknown: unknown === '' ? [] : unknown.split('\n'),
  };
}

const uid = () => process.geteuid?.() ?? 0;

/** The cache directory is used only if it is a directory of ours, not a symlink to one. */
function isOwnDir(dir: string): boolean {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st !== undefined && st.isDirectory() && st.uid === uid();
}

/**
 * Reads a cache file, never through a symlink (O_NOFOLLOW), and only a
 * regular file of ours; anything else counts as absent and is replaced.
 */
function readCached(file: string, keyText: string): CompiledSeccomp | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid() || st.size > MAX_FILE) return undefined;
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) return undefined;
      got += n;
    }
    return decodeCacheFile(buf, keyText);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Stores a program: a new file (0600) renamed into place, so readers see a
 * whole file or none, and a symlink planted at the name is replaced, not
 * followed. The directory must be ours and no symlink. A failure to store
 * only costs the next start a compile; it is not the container's failure.
 */
function writeCached(cacheDir: string, key: string, keyText: string, c: CompiledSeccomp): void {
  try {
    mkdirSync(cacheDir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return;
  }
  if (!isOwnDir(cacheDir)) return;
  const file = cacheFile(cacheDir, key);
  const tmp = `${file}.${process.pid}.${Math.floor(Math.random() * 0xffffff).toString(16)}.tmp`;
  let fd = -1;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const buf = encodeCacheFile(keyText, c);
    let put = 0;
    while (put < buf.length) put += writeSync(fd, buf, put, buf.length - put, put);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, file);
  } catch {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // never made
    }
  }
}
