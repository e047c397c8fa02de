import { DbusConnection, DbusError, socketPathOf } from './dbus.js';
import { Variant, type DbusValue } from './dbus-wire.js';
import type { UnitProperty } from './properties.js';
import type { SystemdUnit } from './unit-name.js';
import { TsboxError } from '../errors.js';

/**
 * systemd's service manager, over D-Bus: the transient scopes of the
 * systemd cgroup driver. As root, the manager's own socket
 * (/run/systemd/private, no bus daemon in between) is tried first, then the
 * system bus.
 */

const DESTINATION = 'org.freedesktop.systemd1';
const OBJECT = '/org/freedesktop/systemd1';
const MANAGER = 'org.freedesktop.systemd1.Manager';
const PRIVATE_SOCKET = '/run/systemd/private';
const SYSTEM_BUS = 'unix:path=/run/dbus/system_bus_socket';
/** How long a start or stop job may take before tsbox gives up on it. */
const JOB_TIMEOUT_MS = 30_000;

export class Systemd {
  /** The manager's major version (252 for "252.38-1~deb12u1"): which properties it knows. */
  readonly version: number;
  /** Jobs finished so far whose removal nobody has waited for yet: job path -> result. */
  private readonly finished = new Map<string, string>();
  private readonly waiting = new Map<string, (result: string) => void>();

  private constructor(
    private readonly bus: DbusConnection,
    version: number,
  ) {
    this.version = version;
    bus.onSignal((m) => {
      if (m.interface !== MANAGER || m.member !== 'JobRemoved') return;
      const [, job, , result] = m.body as [number, string, string, string];
      const waiter = this.waiting.get(job);
      if (waiter) waiter(result);
      else this.finished.set(job, result);
    });
  }

  static async connect(): Promise<Systemd> {
    const bus = await connectToManager();
    try {
      if (bus.uniqueName !== undefined) {
        // On the bus, signals reach only those who ask for them.
        await bus.call({
          destination: 'org.freedesktop.DBus',
          path: '/org/freedesktop/DBus',
          interface: 'org.freedesktop.DBus',
          member: 'AddMatch',
          signature: 's',
          body: [`type='signal',sender='${DESTINATION}',interface='${MANAGER}',member='JobRemoved'`],
        });
      }
      // Without a subscriber systemd sends no job signals at all.
      await bus.call({ destination: DESTINATION, path: OBJECT, interface: MANAGER, member: 'Subscribe' });
      const [version] = await bus.call({
        destination: DESTINATION,
        path: OBJECT,
        interface: 'org.freedesktop.DBus.Properties',
        member: 'Get',
        signature: 'ss',
        body: [MANAGER, 'Version'],
      });
      const text = version instanceof Variant ? String(version.value) : '';
      return new Systemd(bus, Number(/(\d+)/.exec(text)?.[1] ?? 0));
    } catch (err) {
      bus.close();
      throw err;
    }
  }

  close(): void {
    this.bus.close();
  }

  /**
   * Starts the transient scope `unit` holding `pid` with `properties`, and
   * waits until systemd has moved the process into it. Delegate=yes: the
   * cgroup is the container's to manage below (tsbox writes the files
   * directly, as with cgroupfs).
   */
  async startScope(unit: SystemdUnit, pid: number, properties: readonly UnitProperty[], description: string): Promise<void> {
    const all: UnitProperty[] = [
      ['Description', new Variant('s', description)],
      ['Slice', new Variant('s', unit.slice)],
      // Not ordered after (or stopped with) anything: the scope exists for its processes only.
      ['DefaultDependencies', new Variant('b', false)],
      ['Delegate', new Variant('b', true)],
      ['PIDs', new Variant('au', [pid])],
      ['MemoryAccounting', new Variant('b', true)],
      ['CPUAccounting', new Variant('b', true)],
      ['TasksAccounting', new Variant('b', true)],
      ['IOAccounting', new Variant('b', true)],
      ...properties,
    ];
    let job: DbusValue | undefined;
    try {
      [job] = await this.managerCall('StartTransientUnit', 'ssa(sv)a(sa(sv))', [unit.unit, 'fail', all, []]);
    } catch (err) {
      if (err instanceof DbusError && err.name === 'org.freedesktop.systemd1.UnitExists') {
        throw new TsboxError(`systemd unit ${unit.unit} exists already: another container has this cgroupsPath`);
      }
      throw systemdError(`start ${unit.unit} in ${unit.slice}`, err);
    }
    const result = await this.jobResult(String(job), `start ${unit.unit}`);
    if (result !== 'done') throw new TsboxError(`systemd: start ${unit.unit} in ${unit.slice}: the job ended "${result}" (journalctl -u ${unit.unit} may say why)`);
  }

  /** Changes a running unit's properties (update), at runtime only, as runc does. */
  async setProperties(unit: string, properties: readonly UnitProperty[]): Promise<void> {
    if (properties.length === 0) return;
    try {
      await this.managerCall('SetUnitProperties', 'sba(sv)', [unit, true, [...properties]]);
    } catch (err) {
      throw systemdError(`set properties of ${unit}`, err);
    }
  }

  /** Stops a unit and waits for it; one that is gone already (an empty scope is collected) is fine. */
  async stopUnit(unit: string): Promise<void> {
    let job: DbusValue | undefined;
    try {
      [job] = await this.managerCall('StopUnit', 'ss', [unit, 'fail']);
    } catch (err) {
      if (err instanceof DbusError && err.name === 'org.freedesktop.systemd1.NoSuchUnit') return;
      throw systemdError(`stop ${unit}`, err);
    }
    const result = await this.jobResult(String(job), `stop ${unit}`);
    if (result !== 'done') throw new TsboxError(`systemd: stop ${unit}: the job ended "${result}"`);
  }

  private managerCall(member: string, signature: string, body: DbusValue[]): Promise<DbusValue[]> {
    return this.bus.call({ destination: DESTINATION, path: OBJECT, interface: MANAGER, member, signature, body });
  }

  /** The result of a job ("done", "failed", ...) once systemd has removed it. */
  private jobResult(job: string, what: string): Promise<string> {
    const early = this.finished.get(job);
    if (early !== undefined) {
      this.finished.delete(job);
      return Promise.resolve(early);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(job);
        reject(new TsboxError(`systemd: ${what}: no answer within ${JOB_TIMEOUT_MS / 1000} s (job ${job})`));
      }, JOB_TIMEOUT_MS);
      this.waiting.set(job, (result) => {
        clearTimeout(timer);
        this.waiting.delete(job);
        resolve(result);
      });
    });
  }
}

function systemdError(what: string, err: unknown): TsboxError {
  if (err instanceof DbusError) return new TsboxError(`systemd: ${what}: ${err.message} (${err.name})`, { cause: err });
  return new TsboxError(`systemd: ${what}: ${(err as Error).message}`, { cause: err });
}

async function connectToManager(): Promise<DbusConnection> {
  const failures: string[] = [];
  if ((process.geteuid?.() ?? 0) === 0) {
    try {
      return await DbusConnection.connect(PRIVATE_SOCKET, { hello: false });
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  const address = process.env.DBUS_SYSTEM_BUS_ADDRESS || SYSTEM_BUS;
  try {
    return await DbusConnection.connect(socketPathOf(address), { hello: true });
  } catch (err) {
    failures.push(`(the system bus) ${(err as Error).message}`);
  }
  throw new TsboxError(`--systemd-cgroup: cannot reach systemd (is it the init here?): ${failures.join('; ')}`);
}

/** Runs `fn` with a connection to systemd, closed afterwards. */
export async function withSystemd<T>(fn: (systemd: Systemd) => Promise<T>): Promise<T> {
  const systemd = await Systemd.connect();
  try {
    return await fn(systemd);
  } finally {
    systemd.close();
  }
}
