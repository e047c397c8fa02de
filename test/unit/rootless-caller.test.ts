// Who counts as rootless (lib/host/rootless.ts), and the default state root
// that follows from it (lib/runtime/root.ts): runc's rule, under which root
// of a user namespace made by an unprivileged user (rootless podman runs its
// runtime so) is rootless unless USER says root.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { inUserNamespace, rootlessCaller, runsRootless } from '../../lib/host/rootless.js';
import { DEFAULT_ROOT, defaultStateRoot } from '../../lib/runtime/root.js';

const HOST_MAP = '         0          0 4294967295\n';
const PODMAN_MAP = '         0     231777          1\n         1     700000      65536\n';

describe('rootless detection', () => {
  it('tells the initial user namespace from any other by its uid_map', () => {
    expect(inUserNamespace(HOST_MAP)).toBe(false);
    expect(inUserNamespace(PODMAN_MAP)).toBe(true);
    expect(inUserNamespace('0 1000 1\n')).toBe(true);
    expect(inUserNamespace('0 0 4294967294\n')).toBe(true);
  });

  it('counts any other uid, and uid 0 in a user namespace unless USER is root', () => {
    expect(runsRootless(1000, {}, () => HOST_MAP)).toBe(true);
    expect(runsRootless(0, {}, () => HOST_MAP)).toBe(false);
    expect(runsRootless(0, { USER: 'root' }, () => HOST_MAP)).toBe(false);
    expect(runsRootless(0, {}, () => PODMAN_MAP)).toBe(true);
    expect(runsRootless(0, { USER: 'alice' }, () => PODMAN_MAP)).toBe(true);
    expect(runsRootless(0, { USER: 'root' }, () => PODMAN_MAP)).toBe(false);
  });

  it('names the caller in messages with its host uid', () => {
    expect(rootlessCaller(1000, HOST_MAP)).toBe('uid 1000');
    expect(rootlessCaller(0, PODMAN_MAP)).toBe('uid 0 of a user namespace, host uid 231777,');
  });

  it('puts a rootless root\'s state under XDG_RUNTIME_DIR, a real root\'s under /run/tsbox', () => {
    const xdg = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-xdg-'));
    try {
      expect(defaultStateRoot(0, { XDG_RUNTIME_DIR: xdg }, true)).toBe(`${xdg}/tsbox`);
      expect(defaultStateRoot(0, { XDG_RUNTIME_DIR: xdg }, false)).toBe(DEFAULT_ROOT);
      expect(() => defaultStateRoot(0, { XDG_RUNTIME_DIR: 'relative' }, true)).toThrow('XDG_RUNTIME_DIR "relative" is not a writable directory of uid 0');
    } finally {
      fs.rmSync(xdg, { recursive: true, force: true });
    }
  });
});
