/**
 * Where container state lives by default: /run/tsbox for root, and for an
 * unprivileged user (rootless) a directory of its own under its runtime
 * directory, as runc does with $XDG_RUNTIME_DIR/runc. Where runc would fall
 * back to /run/runc (which such a user cannot write), tsbox tries
 * /run/user/<uid>, the place a login session's XDG_RUNTIME_DIR points to,
 * and otherwise says what to set. Root of a user namespace made by an
 * unprivileged user (rootless podman's runtime) counts as that user here:
 * see ../host/rootless.ts.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { TsboxError } from '../errors.js';
import { runsRootless } from '../host/rootless.js';

export const DEFAULT_ROOT = '/run/tsbox';

function writableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function defaultStateRoot(
  uid: number = process.geteuid?.() ?? 0,
  env: NodeJS.ProcessEnv = process.env,
  rootless: boolean = runsRootless(uid, env),
): string {
  if (!rootless) return DEFAULT_ROOT;
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg) {
    if (!xdg.startsWith('/') || !writableDir(xdg)) {
      throw new TsboxError(`XDG_RUNTIME_DIR "${xdg}" is not a writable directory of uid ${uid}: fix it or pass --root DIR for the container state`);
    }
    return `${xdg.replace(/\/+$/, '')}/tsbox`;
  }
  const runUser = `/run/user/${uid}`;
  if (writableDir(runUser)) return `${runUser}/tsbox`;
  throw new TsboxError(
    `no directory for the container state of uid ${uid}: XDG_RUNTIME_DIR is not set and ${runUser} is not a writable directory; set XDG_RUNTIME_DIR or pass --root DIR`,
  );
}
