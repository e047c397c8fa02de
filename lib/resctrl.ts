/**
 * linux.intelRdt applied in the resctrl filesystem (Intel RDT, AMD QoS),
 * as runc 1.4 does: the container's init joins a resctrl group (closID, or
 * one named after the container), whose schemata file gets the config's
 * lines, and with enableMonitoring a monitoring group of its own under the
 * group's mon_groups. Every path is under `root`, the resctrl mount (a
 * parameter, so that the writer can be tested on a directory laid out like
 * one: this project's hosts have no RDT hardware).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TsboxError } from './errors.js';
import type { IntelRdtNeed, IntelRdtRequest } from './plan/intel-rdt.js';

/** What a container has in resctrl: kept in its record, removed by removeResctrl. */
export interface ResctrlGroup {
  /** The group's directory (under the resctrl mount). */
  dir: string;
  /** Whether tsbox made it for this container (then it goes with the container; a group that was there stays). */
  made: boolean;
  /** Named by closID: other containers may join it (it goes only once nobody is left in it). */
  shared?: true;
  /** The container's monitoring group (enableMonitoring), always its own. */
  monDir?: string;
}

/** The mount point of the first resctrl filesystem in a mountinfo text, if any. */
export function resctrlRoot(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0 || line.slice(sep + 3).split(' ')[0] !== 'resctrl') continue;
    return line.slice(0, sep).split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  }
  return undefined;
}

/**
 * resctrl's files are written as its documentation does (`echo > file`):
 * O_CREAT finds them there, and a directory laid out like resctrl in a
 * test gets them.
 */
function write(file: string, text: string): void {
  writeFileSync(file, text);
}

/** One line naming the field and what resctrl lacks for it. */
function checkNeed(root: string, need: IntelRdtNeed): void {
  if ('info' in need) {
    if (!existsSync(path.join(root, 'info', need.info))) {
      throw new TsboxError(`${need.field}: cannot be applied: the resctrl filesystem at ${root} has no info/${need.info} (this host's RDT does not offer it)`);
    }
    return;
  }
  let features: string[] = [];
  try {
    features = readFileSync(path.join(root, 'info', 'L3_MON', 'mon_features'), 'utf8').split('\n');
  } catch {
    // No monitoring at all: the same answer.
  }
  if (!need.monFeature.some((f) => features.includes(f))) {
    throw new TsboxError(`${need.field}: cannot be applied: the resctrl filesystem at ${root} does not monitor ${need.monFeature.join(' or ')} (info/L3_MON/mon_features)`);
  }
}

/** Whether the resctrl filesystem at `root` offers what `req` asks for: one line naming the field if not. */
export function checkResctrl(root: string, req: IntelRdtRequest): void {
  for (const need of req.needs) checkNeed(root, need);
}

/**
 * A schemata line as domain -> value, for comparing what the kernel shows
 * with what was written (it drops leading zeros of a bitmask and may order
 * domains differently). Bandwidth resources (MB, SMBA) are decimal, caches
 * hexadecimal bitmasks.
 */
function parseLine(line: string): [string, Map<string, string>] | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  const resource = line.slice(0, colon).trim();
  const decimal = /^(MB|SMBA)$/.test(resource);
  const domains = new Map<string, string>();
  for (const part of line.slice(colon + 1).split(';')) {
    if (part.trim() === '') continue;
    const [domain, value, extra] = part.split('=').map((s) => s.trim());
    if (!domain || !value || extra !== undefined) return undefined;
    const n = decimal ? Number(value) : parseInt(value, 16);
    domains.set(domain, Number.isNaN(n) ? value : n.toString(decimal ? 10 : 16));
  }
  return [resource, domains];
}

/**
 * Whether the group's schemata already say what `lines` do: each domain of
 * each resource given has that value. A group named by closID that exists
 * is not rewritten (others may share it): it must match, as the spec says.
 */
function schemataMatch(existing: string, lines: string[]): boolean {
  const have = new Map<string, Map<string, string>>();
  for (const line of existing.split('\n')) {
    const parsed = parseLine(line);
    if (parsed) have.set(...parsed);
  }
  for (const line of lines.flatMap((l) => l.split('\n'))) {
    if (line.trim() === '') continue;
    const parsed = parseLine(line);
    if (!parsed) return false;
    const [resource, domains] = parsed;
    for (const [domain, value] of domains) {
      if (have.get(resource)?.get(domain) !== value) return false;
    }
  }
  return true;
}

/** A failed write, with what resctrl said of it (info/last_cmd_status). */
function writeFailed(root: string, what: string, err: unknown): TsboxError {
  let status = '';
  try {
    status = readFileSync(path.join(root, 'info', 'last_cmd_status'), 'utf8').trim();
  } catch {
    // Older kernels have none.
  }
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  return new TsboxError(`linux.intelRdt: ${what}: ${code}${status && status !== 'ok' ? ` (resctrl: ${status})` : ''}`, { cause: err });
}

/**
 * Puts `pid` (the container's init, before it executes the process) into
 * the resctrl group of `req` under `root`, made and given its schemata if
 * need be. `onMade` is told of each directory before it is made, so that a
 * runtime killed half-way still knows what to remove. Whatever this made
 * is removed again if a later step fails.
 */
export function joinResctrl(root: string, req: IntelRdtRequest, pid: number, onMade: (g: ResctrlGroup) => void = () => undefined): ResctrlGroup {
  checkResctrl(root, req);
  const dir = path.join(root, req.group);
  const existed = existsSync(dir);
  if (req.named && !existed && req.schemataWrites.length === 0) {
    throw new TsboxError(`linux.intelRdt.closID: no resctrl group "${req.group}" in ${root} (with no schemata to write it must exist beforehand)`);
  }
  const group: ResctrlGroup = { dir, made: !existed, ...(req.named && { shared: true as const }) };
  try {
    if (!existed) {
      onMade(group);
      try {
        mkdirSync(dir);
      } catch (err) {
        // Another container made the same closID group meanwhile: joined
        // as one that was there.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !req.named) throw writeFailed(root, `make resctrl group "${dir}"`, err);
        group.made = false;
        onMade(group);
      }
    }
    if (req.named && !group.made) {
      const existing = readFileSync(path.join(dir, 'schemata'), 'utf8');
      if (!schemataMatch(existing, req.schemataWrites)) {
        throw new TsboxError(`linux.intelRdt: the resctrl group "${req.group}" exists with other schemata than the config's (${JSON.stringify(existing.trim())}); a shared group is not rewritten`);
      }
    } else {
      for (const text of req.schemataWrites) {
        try {
          write(path.join(dir, 'schemata'), `${text}\n`);
        } catch (err) {
          throw writeFailed(root, `write ${JSON.stringify(text)} to ${path.join(dir, 'schemata')}`, err);
        }
      }
    }
    try {
      write(path.join(dir, 'tasks'), String(pid));
    } catch (err) {
      throw writeFailed(root, `write ${pid} to ${path.join(dir, 'tasks')}`, err);
    }
    if (req.monitorAs !== undefined) {
      const monDir = path.join(dir, 'mon_groups', req.monitorAs);
      // Always the container's own: one there already is someone else's.
      if (existsSync(monDir)) throw new TsboxError(`linux.intelRdt.enableMonitoring: the monitoring group "${monDir}" exists already`);
      group.monDir = monDir;
      onMade(group);
      try {
        // mon_groups is resctrl's own (made with the group); recursive only
        // so that a test's directory needs none.
        mkdirSync(monDir, { recursive: true });
      } catch (err) {
        delete group.monDir;
        throw writeFailed(root, `make monitoring group "${monDir}"`, err);
      }
      try {
        write(path.join(monDir, 'tasks'), String(pid));
      } catch (err) {
        throw writeFailed(root, `write ${pid} to ${path.join(monDir, 'tasks')}`, err);
      }
    }
    return group;
  } catch (err) {
    removeResctrl(group);
    throw err;
  }
}

/**
 * `update --l3-cache-schema/--mem-bw-schema`: new schemata lines for the
 * container's group, if it is the container's own (a group named by
 * closID may be shared, and is not rewritten).
 */
export function updateSchemata(g: ResctrlGroup, text: string): void {
  if (!g.made || g.shared) throw new TsboxError(`linux.intelRdt: the resctrl group "${g.dir}" is named by closID and may be shared by other containers: it is not rewritten`);
  const file = path.join(g.dir, 'schemata');
  try {
    write(file, `${text}\n`);
  } catch (err) {
    throw writeFailed(path.dirname(g.dir), `write ${JSON.stringify(text)} to ${file}`, err);
  }
}

/**
 * Removes what joinResctrl made: the container's monitoring group, and the
 * group if it made it (resctrl moves the tasks still in them to the parent
 * group), unless it is a closID group someone is still in (another
 * container joined it; runc never removes a closID group). Gone already is
 * fine. Called once the container's processes are gone (lib/destroy.ts).
 */
export function removeResctrl(g: ResctrlGroup): void {
  for (const dir of [g.monDir, g.made && !(g.shared && inUse(g.dir)) ? g.dir : undefined]) {
    if (dir === undefined) continue;
    try {
      removeDir(dir);
    } catch (err) {
      throw new TsboxError(`linux.intelRdt: remove ${dir}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
    }
  }
}

/** Whether a resctrl group has tasks (its own and its monitoring groups' are listed in its tasks file). */
function inUse(dir: string): boolean {
  try {
    return readFileSync(path.join(dir, 'tasks'), 'utf8').trim() !== '';
  } catch {
    return false;
  }
}

/**
 * rmdir: on resctrl a group's files and mon_groups go with it (they cannot
 * be unlinked). Only a plain directory laid out like resctrl (a test's)
 * says ENOTEMPTY: its files and empty subdirectories are removed first.
 */
function removeDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code !== 'ENOTEMPTY') throw err;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) removeDir(path.join(dir, e.name));
      else unlinkSync(path.join(dir, e.name));
    }
    rmdirSync(dir);
  }
}
