import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * CRIU, run as its own program (never from a forked copy of Node). Where
 * it is: $TSBOX_CRIU (for tests and unusual installs), else the first
 * `criu` on PATH or in /usr/sbin and /sbin (Debian's package puts it in
 * /usr/sbin, which a non-login PATH may lack).
 */
export function criuPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TSBOX_CRIU) return existsSync(env.TSBOX_CRIU) ? env.TSBOX_CRIU : undefined;
  const dirs = [...(env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/sbin'];
  return dirs.map((d) => `${d}/criu`).find((f) => existsSync(f));
}

/**
 * CRIU's reason for a failure: the first "Error (file:line): what" line of
 * its output or log, without the source position (the first is the cause;
 * the ones after say what gave up because of it).
 */
export function criuReason(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /Error \([^)]*\):\s*(.*\S)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/**
 * Why CRIU cannot checkpoint or restore on this host, or undefined when it
 * can: it is missing, or `criu check` (its test of the kernel's features)
 * fails, as with Debian's CRIU 3.17 on kernel 6.18 ("vdso: Failed to fill
 * self vdso symtable").
 */
export function criuUnusable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const criu = criuPath(env);
  if (!criu) return env.TSBOX_CRIU ? `criu is not at "${env.TSBOX_CRIU}" ($TSBOX_CRIU)` : 'criu is not installed (apt-get install criu)';
  const r = spawnSync(criu, ['check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error) return `${criu} check: ${r.error.message}`;
  if (r.status === 0) return undefined;
  const out = `${r.stdout}\n${r.stderr}`;
  return `criu check failed: ${criuReason(out) ?? (out.trim().split('\n').pop() || `exit status ${r.status}`)}`;
}
