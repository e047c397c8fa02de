import type { Hook, Hooks } from './oci/types.js';
import { TsboxError } from './errors.js';
import type { OciState } from './oci/state.js';

/** The hooks tsbox runs itself, in the runtime's namespaces. */
export type RuntimeHookPhase = 'prestart' | 'createRuntime' | 'poststart' | 'poststop';

/** The OCI state a hook reads on its stdin. */
export type HookState = OciState;

function runOne(phase: string, hook: Hook, state: string): Promise<void> {
  // Loaded only when a config has hooks: child_process is not free to load.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const [argv0, ...args] = hook.args ?? [hook.path];
  const env = Object.fromEntries((hook.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  const what = `${phase} hook "${hook.path}"`;
  return new Promise((resolve, reject) => {
    const child = spawn(hook.path, args, { argv0: argv0 ?? hook.path, env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const timer =
      hook.timeout !== undefined
        ? setTimeout(() => {
            child.kill('SIGKILL');
            reject(new TsboxError(`${what}: timed out after ${hook.timeout} s`));
          }, hook.timeout * 1000)
        : undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new TsboxError(`${what}: ${err.code ?? err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = signal ? `killed by ${signal}` : `exited with status ${code}`;
      const said = stderr.trim().split('\n').pop();
      reject(new TsboxError(`${what}: ${why}${said ? `: ${said}` : ''}`));
    });
    // A hook that does not read its stdin must not fail the write.
    child.stdin!.on('error', () => {});
    child.stdin!.end(state);
  });
}

/**
 * Runs the prestart or createRuntime hooks in order, each with the state on
 * stdin. The first failure stops the rest and is thrown: it fails the
 * operation, as the OCI runtime spec says.
 */
export async function runHooks(hooks: Hooks | undefined, phase: 'prestart' | 'createRuntime', state: HookState): Promise<void> {
  const json = JSON.stringify(state);
  for (const hook of hooks?.[phase] ?? []) await runOne(phase, hook, json);
}

/**
 * Runs the poststart or poststop hooks in order. A failure is only a
 * warning and the hooks after it still run, as the OCI runtime spec says
 * (runc stops at the first): the process runs, or has run, either way.
 * Returns one warning per failed hook.
 */
export async function runHooksWarning(hooks: Hooks | undefined, phase: 'poststart' | 'poststop', state: HookState): Promise<string[]> {
  const json = JSON.stringify(state);
  const warnings: string[] = [];
  for (const hook of hooks?.[phase] ?? []) {
    await runOne(phase, hook, json).catch((err: Error) => warnings.push(err.message));
  }
  return warnings;
}
