import { readFileSync } from 'node:fs';
import { ConfigError, TsboxError } from '../../errors.js';
import type { Process } from '../../oci/types.js';
import { validateProcess } from '../../oci/validate.js';
import type { CommandContext } from '../context.js';
import { UsageError } from '../parse.js';
import { runtimeOf } from '../runtime.js';
import type { ExecProcess } from '../../runtime/runtime.js';
import { callerTerminalSize, supervise } from '../supervise.js';

function readProcessFile(file: string): Process {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TsboxError(`read process file "${file}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return validateProcess(JSON.parse(text));
  } catch (err) {
    if (err instanceof SyntaxError) throw new TsboxError(`${file}: invalid JSON`);
    throw err;
  }
}

/** `uid` or `uid:gid`, as runc's --user takes it. */
function parseUser(text: string): { uid: number; gid?: number } {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new UsageError(`--user takes UID or UID:GID (numbers), got "${text}"`, 'exec');
  return { uid: Number(m[1]), ...(m[2] !== undefined && { gid: Number(m[2]) }) };
}

/** --process-label and --apparmor, as process fields (applied where the host has that LSM, else an error). */
function securityLabels({ flags }: CommandContext): Pick<Process, 'selinuxLabel' | 'apparmorProfile'> {
  return {
    ...(flags['process-label'] !== undefined && { selinuxLabel: flags['process-label'] as string }),
    ...(flags.apparmor !== undefined && { apparmorProfile: flags.apparmor as string }),
  };
}

/** runc's exec with a command: the container's own process, with the flags on top. */
function processFromFlags(base: Process, ctx: CommandContext, args: string[]): Process {
  const f = ctx.flags;
  const env = [...(base.env ?? [])];
  for (const e of f.env as string[]) {
    const key = e.split('=', 1)[0]!;
    const at = env.findIndex((x) => x.split('=', 1)[0] === key);
    if (at >= 0) env[at] = e;
    else env.push(e);
  }
  const user = { ...(base.user ?? { uid: 0, gid: 0 }) };
  if (f.user !== undefined) Object.assign(user, parseUser(f.user as string));
  const gids = (f['additional-gids'] as string[]).map((g) => {
    if (!/^\d+$/.test(g)) throw new UsageError(`--additional-gids takes numbers, got "${g}"`, 'exec');
    return Number(g);
  });
  if (gids.length > 0) user.additionalGids = gids;
  const caps = f.cap as string[];
  const process: Process = {
    ...base,
    ...securityLabels(ctx),
    args,
    env,
    user,
    terminal: f.tty === true,
    cwd: (f.cwd as string | undefined) ?? base.cwd,
    ...(f['no-new-privs'] === true && { noNewPrivileges: true }),
  };
  delete process.consoleSize;
  if (caps.length > 0) {
    const c = { ...(base.capabilities ?? {}) };
    for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...new Set([...(c[set] ?? []), ...caps])];
    process.capabilities = c;
  }
  return validateProcess(process);
}

export async function command(ctx: CommandContext): Promise<number> {
  const [id, ...args] = ctx.args;
  if (id === undefined) throw new UsageError('a container id is required', 'exec');
  const runtime = runtimeOf(ctx);
  const f = ctx.flags;
  let process: ExecProcess;
  let terminal = f.tty === true;
  if (f.process !== undefined) {
    if (args.length > 0) throw new UsageError('give either --process or a command, not both', 'exec');
    const p = { ...readProcessFile(f.process as string), ...securityLabels(ctx) };
    if (terminal) p.terminal = true;
    terminal = p.terminal === true;
    process = p;
  } else {
    if (args.length === 0) throw new UsageError('a command to run is required (or --process FILE)', 'exec');
    // Built from the container's process once the runtime has read its bundle.
    process = (base) => processFromFlags(base, ctx, args);
  }
  const options = {
    stdio: 'inherit' as const,
    preserveFds: f['preserve-fds'] as number,
    ...(f['pid-file'] !== undefined && { pidFile: f['pid-file'] as string }),
    ...(f['console-socket'] !== undefined && { consoleSocket: f['console-socket'] as string }),
    ...(f['pidfd-socket'] !== undefined && { pidfdSocket: f['pidfd-socket'] as string }),
    ...(f['ignore-paused'] === true && { ignorePaused: true }),
    ...((f.cgroup as string[]).length > 0 && { subCgroups: f.cgroup as string[] }),
  };
  if (f.detach) {
    const { warnings } = await runtime.execDetached(id, process, options).catch(namingLabelFlags(ctx));
    for (const w of warnings) ctx.log.warn(w);
    return 0;
  }
  const size = callerTerminalSize(terminal);
  return supervise(runtime.native, () => runtime.exec(id, process, { ...options, ...(size && { terminalSize: size }) }).catch(namingLabelFlags(ctx)), ctx.log);
}

/** A label the host cannot apply, named as the flag that asked for it rather than the process field. */
function namingLabelFlags(ctx: CommandContext): (err: unknown) => never {
  const flagOf: Record<string, string> = { 'process.selinuxLabel': 'process-label', 'process.apparmorProfile': 'apparmor' };
  return (err) => {
    const flag = err instanceof ConfigError ? flagOf[err.jsonPath] : undefined;
    if (flag && ctx.flags[flag] !== undefined) throw new TsboxError(`exec --${flag} "${ctx.flags[flag] as string}": ${(err as ConfigError).problem}`);
    throw err;
  };
}
