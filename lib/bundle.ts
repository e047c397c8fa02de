import { closeSync, fstatSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, TsboxError } from './errors.js';
import { jsonErrorOffset, lineAndColumn } from './json-location.js';
import type { Spec } from './oci/types.js';
import { validateSpec } from './oci/validate.js';

/** An OCI bundle: a directory with config.json and a root filesystem. */
export interface Bundle {
  /** Absolute path of the bundle directory. */
  dir: string;
  configPath: string;
  spec: Spec;
  /** Absolute path of the root filesystem (root.path resolved against dir). */
  rootfs: string;
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/**
 * Reads and validates a bundle. Nothing is created, so any error leaves
 * nothing behind; each names the file or JSON path that was wrong.
 */
export function loadBundle(dir: string): Bundle {
  const abs = path.resolve(dir);
  let isDir: boolean;
  try {
    isDir = statSync(abs).isDirectory();
  } catch (err) {
    throw new TsboxError(`bundle "${dir}": ${errnoOf(err) === 'ENOENT' ? 'no such directory' : String(err)}`, { cause: err });
  }
  if (!isDir) throw new TsboxError(`bundle "${dir}": not a directory`);

  const configPath = path.join(abs, 'config.json');
  const spec = parseSpec(readConfig(configPath), configPath);
  // The validator requires process, process.args and root.
  const rootfs = path.resolve(abs, spec.root!.path);
  let rootIsDir = false;
  try {
    rootIsDir = statSync(rootfs).isDirectory();
  } catch {
    throw new ConfigError('root.path', `rootfs "${rootfs}" does not exist`, configPath);
  }
  if (!rootIsDir) throw new ConfigError('root.path', `rootfs "${rootfs}" is not a directory`, configPath);
  checkRootInBundle(spec.root!.path, abs, configPath);
  return { dir: abs, configPath, spec, rootfs };
}

/**
 * The rootfs may be anywhere the config says (absolute, or "../shared"),
 * but not where the bundle's own files would take it unseen: a relative
 * root.path that stays in the bundle as written yet leaves it through a
 * symlink, or a rootfs that is the host's root directory. Either would have
 * tsbox make mount points and device nodes in a host directory the bundle's
 * author chose.
 */
function checkRootInBundle(rootPath: string, bundleDir: string, configPath: string): void {
  const written = path.resolve(bundleDir, rootPath);
  const real = realpathSync(written);
  if (real === '/') throw new ConfigError('root.path', `rootfs "${written}" is the host's root directory`, configPath);
  const realBundle = realpathSync(bundleDir);
  const inside = (p: string, dir: string) => p.startsWith(dir + path.sep);
  if (!path.isAbsolute(rootPath) && inside(written, bundleDir) && !inside(real, realBundle)) {
    throw new ConfigError('root.path', `"${rootPath}" leads out of the bundle through a symlink, to "${real}"`, configPath);
  }
}

/** Bigger than any real config by far; refused before reading it into memory. */
const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

function readConfig(configPath: string): string {
  try {
    const fd = openSync(configPath, 'r');
    try {
      const { size } = fstatSync(fd);
      if (size > MAX_CONFIG_BYTES) {
        throw new TsboxError(`read "${configPath}": ${size} bytes is more than the limit of ${MAX_CONFIG_BYTES} (64 MiB)`);
      }
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if (err instanceof TsboxError) throw err;
    const code = errnoOf(err);
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : String(err);
    throw new TsboxError(`read "${configPath}": ${why}`, { cause: err });
  }
}

/** Parses JSON text as a config, naming `file` and the place of any error. */
export function parseSpec(text: string, file: string): Spec {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const offset = jsonErrorOffset(text);
    const { line, column } = lineAndColumn(text, offset < 0 ? text.length : offset);
    throw new TsboxError(`${file}: invalid JSON at line ${line}, column ${column}`);
  }
  try {
    return validateSpec(value);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(file) : err;
  }
}
