import { TsboxError } from './errors.js';

/**
 * Container ids name directories under the state root, so they are held to
 * the characters runc allows: no "/" and no "..", nothing a shell or a path
 * could misread.
 */
const ID_PATTERN = /^[\w+.-]+$/;

/**
 * Names in the state root that are tsbox's own, not containers'
 * (lib/seccomp-cache.ts). Dot names in general stay valid ids, as in runc.
 */
const RESERVED = new Set(['.seccomp']);

export function validateId(id: string): string {
  if (RESERVED.has(id)) throw new TsboxError(`invalid container id ${JSON.stringify(id)}: the name is reserved for tsbox's own files in the state root`);
  if (id.length === 0 || id.length > 1024 || !ID_PATTERN.test(id) || id === '.' || id === '..') {
    // Quoted as JSON and cut short: the id may hold newlines or control
    // characters, and the error must stay one short line.
    const shown = JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}...` : id);
    throw new TsboxError(`invalid container id ${shown}: use 1 to 1024 of A-Z a-z 0-9 _ + - . (not "." or "..")`);
  }
  return id;
}

/**
 * A fresh id for `tsbox run BUNDLE-DIR`. Not a secret, only unique: the pid
 * and clock make it so on this machine (node:crypto would cost ~2 ms of
 * start-up to load).
 */
export function generateId(): string {
  const random = Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
  return `tsbox-${process.pid.toString(16)}-${Date.now().toString(16)}-${random}`;
}
