import { spawnSync } from 'node:child_process';

/** Whether CRIU can run on this host (`criu check`), and its first error where not. */
export function criuCheck(): { ok: boolean; error?: string } {
  const r = spawnSync('criu', ['check'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  if (r.error) return { ok: false };
  const error = /Error \([^)]*\):\s*(.*\S)/.exec(`${r.stdout}\n${r.stderr}`)?.[1];
  return { ok: r.status === 0, ...(error !== undefined && { error }) };
}
