import { execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, mkdtempSync, openSync, read, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TsboxError } from '../errors.js';

/** Single-quoted for sh. */
const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A restored container's prestart and createRuntime hooks run, as runc runs
 * them, when CRIU reports "setup-namespaces": the init exists in its new
 * namespaces and nothing of the tree runs on yet. CRIU's command line
 * reports it only to an action script (--action-script), run by criu and
 * waited for: this one hands the init's host pid ($CRTOOLS_INIT_PID) to
 * tsbox through a FIFO and waits on another for tsbox's answer; anything
 * but "ok" fails it, which fails the restore.
 */
export interface SetupNamespacesScript {
  /** The script, for criu's --action-script. */
  readonly script: string;
  /**
   * Once criu has ended (either way): whether the hooks ran, and their
   * error, if they failed. Removes the script and the FIFOs.
   */
  finish(): Promise<{ ran: boolean; error?: unknown }>;
}

/**
 * Writes the script where it can be executed (CRIU execs it): the state
 * directory, or, where that is mounted noexec (/run often is), a private
 * directory of its own under the temporary directory (`scratch`, to remove).
 */
function writeScript(dir: string, text: string): { script: string; scratch?: string } {
  const executable = (f: string) => {
    writeFileSync(f, text, { mode: 0o700 });
    try {
      accessSync(f, constants.X_OK); // EACCES on a noexec mount
      return true;
    } catch {
      rmSync(f, { force: true });
      return false;
    }
  };
  const inState = path.join(dir, 'criu-action.sh');
  if (executable(inState)) return { script: inState };
  const scratch = mkdtempSync(path.join(tmpdir(), 'tsbox-criu-'));
  const script = path.join(scratch, 'criu-action.sh');
  if (executable(script)) return { script, scratch };
  rmSync(scratch, { recursive: true, force: true });
  throw new TsboxError(`cannot write CRIU's action script (for the prestart and createRuntime hooks) where it can run: "${dir}" and "${tmpdir()}" are mounted noexec`);
}

/** Makes the script and its FIFOs in `dir` (the container's state directory) and waits for criu's report, calling `run` with the pid. */
export function setupNamespacesScript(dir: string, run: (pid: number) => Promise<void>): SetupNamespacesScript {
  const request = path.join(dir, 'criu-setup-ns.request');
  const answer = path.join(dir, 'criu-setup-ns.answer');
  execFileSync('mkfifo', ['-m', '0600', request, answer]);
  const { script, scratch } = writeScript(dir, [
    '#!/bin/sh',
    '# Written by tsbox restore: see lib/criu/setup-namespaces.ts.',
    '[ "$CRTOOLS_SCRIPT_ACTION" = setup-namespaces ] || exit 0',
    `echo "$CRTOOLS_INIT_PID" > ${quote(request)} && read -r answer < ${quote(answer)} && [ "$answer" = ok ]`,
    '',
  ].join('\n'));
  // Both opened for reading and writing: neither open waits for the other
  // end, and the script's own opens never wait for tsbox's.
  const requestFd = openSync(request, 'r+');
  const answerFd = openSync(answer, 'r+');
  let ran = false;
  let error: unknown;
  // A read on the thread pool, ended by criu's report, or by finish()'s empty line when criu never reports.
  const reported = new Promise<void>((resolve) => {
    read(requestFd, Buffer.alloc(64), 0, 64, null, (err, n, buf) => {
      const pid = err ? NaN : Number.parseInt(buf.subarray(0, n).toString(), 10);
      if (!(pid > 0)) return resolve();
      ran = true;
      run(pid).then(
        () => writeSync(answerFd, 'ok\n'),
        (e: unknown) => {
          error = e;
          writeSync(answerFd, 'failed\n');
        },
      ).finally(resolve);
    });
  });
  return {
    script,
    async finish() {
      if (!ran) writeSync(requestFd, '\n');
      await reported;
      closeSync(requestFd);
      closeSync(answerFd);
      for (const f of [request, answer, script]) rmSync(f, { force: true });
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      return { ran, ...(error !== undefined && { error }) };
    },
  };
}
