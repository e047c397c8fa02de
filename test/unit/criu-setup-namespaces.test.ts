// The action script through which CRIU's "setup-namespaces" report reaches
// tsbox (lib/criu/setup-namespaces.ts), run as criu runs it (sh, with
// CRTOOLS_SCRIPT_ACTION and CRTOOLS_INIT_PID), without criu.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setupNamespacesScript } from '../../lib/criu/setup-namespaces.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'tsbox-criu-ns-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The script's exit status for `action`, as criu would run it. */
function runScript(script: string, action: string, pid = '4242'): Promise<number | null> {
  const child = spawn('sh', ['-c', script], { env: { PATH: process.env.PATH, CRTOOLS_SCRIPT_ACTION: action, CRTOOLS_INIT_PID: pid }, stdio: 'ignore' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

describe('CRIU setup-namespaces action script', () => {
  it('hands the init\'s pid to tsbox at setup-namespaces and waits for the hooks; other actions pass straight through', async () => {
    const calls: number[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = setupNamespacesScript(dir, async (pid) => {
      calls.push(pid);
      await gate;
    });
    expect(await runScript(s.script, 'pre-restore')).toBe(0);
    expect(calls).toEqual([]);
    let exited = false;
    const status = runScript(s.script, 'setup-namespaces').then((c) => ((exited = true), c));
    await new Promise((r) => setTimeout(r, 200));
    expect(calls).toEqual([4242]);
    expect(exited).toBe(false);
    release();
    expect(await status).toBe(0);
    expect(await s.finish()).toEqual({ ran: true });
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failing hook fails the script (so criu fails the restore), and finish() hands back its error', async () => {
    const s = setupNamespacesScript(dir, async () => {
      throw new Error('prestart hook "/bin/false": exited with status 1');
    });
    expect(await runScript(s.script, 'setup-namespaces')).not.toBe(0);
    const r = await s.finish();
    expect(r.ran).toBe(true);
    expect((r.error as Error).message).toBe('prestart hook "/bin/false": exited with status 1');
  });

  it('when criu never reports (it failed before), finish() ends the wait and removes the FIFOs', async () => {
    let called = false;
    const s = setupNamespacesScript(dir, async () => {
      called = true;
    });
    expect(existsSync(s.script)).toBe(true);
    expect(await s.finish()).toEqual({ ran: false });
    expect(called).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
