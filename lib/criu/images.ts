import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';
import type { StdioKey } from './options.js';

/** tsbox's own file among CRIU's images: the init's stdio keys (./stdio.ts), for restore's --inherit-fd. */
const DESCRIPTORS = 'descriptors.json';

/**
 * The image directory of a checkpoint, made if missing; undo() takes back
 * everything the checkpoint put there (the directory itself if it made
 * it, else only the entries that were not there before), so a failed
 * checkpoint leaves no half-written images.
 */
export function imageDir(dir: string): { dir: string; undo: () => void } {
  const existed = existsSync(dir);
  const before = new Set(existed ? readdirSync(dir) : []);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    dir,
    undo: () => {
      if (!existed) return rmSync(dir, { recursive: true, force: true });
      for (const name of readdirSync(dir)) if (!before.has(name)) rmSync(path.join(dir, name), { recursive: true, force: true });
    },
  };
}

export function writeDescriptors(dir: string, keys: readonly StdioKey[]): void {
  writeFileSync(path.join(dir, DESCRIPTORS), JSON.stringify(keys.map(({ fd, key }) => ({ fd, key }))), { mode: 0o600 });
}

/** The stdio keys a checkpoint recorded (none in images another tool made). */
export function readDescriptors(dir: string): StdioKey[] {
  const file = path.join(dir, DESCRIPTORS);
  if (!existsSync(file)) return [];
  try {
    const keys = JSON.parse(readFileSync(file, 'utf8')) as StdioKey[];
    if (Array.isArray(keys) && keys.every((k) => Number.isInteger(k.fd) && typeof k.key === 'string')) return keys;
  } catch {
    // reported below
  }
  throw new TsboxError(`restore: "${file}" is not the list of descriptors tsbox checkpoint writes`);
}

/** Refuses a directory that holds no checkpoint (CRIU's inventory.img), before anything is made. */
export function checkImages(dir: string): void {
  if (!existsSync(path.join(dir, 'inventory.img'))) {
    throw new TsboxError(`restore: "${dir}" holds no checkpoint (no inventory.img): give the checkpoint's --image-path`);
  }
}
