'use strict';
// A real systemd, for testing the systemd cgroup driver on a pure cgroup2
// machine without systemd as init (the v2vm VM, where PID 1 is a shell).
//
// systemd runs as PID 1 of new pid, mount and UTS namespaces and of a
// cgroup namespace rooted at a cgroup made for it (/sys/fs/cgroup/
// tsbox-sd-<pid>-<n>): it sees that cgroup as "/", puts itself in
// /init.scope and its units under /system.slice, all of which show in the
// machine's tree below that directory. Its mount namespace gets a fresh
// tmpfs /run (its sockets, units, the D-Bus socket) and /var, its own
// /etc/machine-id, and /dev/console bound to a terminal whose output goes
// to a log file (systemd as PID 1 logs to /dev/console and insists on a
// terminal there: script(1) provides one); /tmp and everything else are the
// machine's, so bundles and state under os.tmpdir() are the same paths
// inside. SYSTEMD_UNIT_PATH keeps it to our units: a default target,
// dbus.socket and dbus.service (dbus-daemon with a config that lets root
// own and call anything), plus the caller's.
//
// sd.exec/sd.spawn run a command inside systemd's pid, mount, UTS and
// cgroup namespaces (nsenter), from the leaf cgroup <root>/harness: the
// pids it hands systemd are systemd's, and its cgroup is "/harness" there,
// out of systemd's slices and clear of "no internal processes".

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const CG = '/sys/fs/cgroup';
const SYSTEMD_CANDIDATES = ['/lib/systemd/systemd', '/usr/lib/systemd/systemd'];
const DBUS_DAEMON_CANDIDATES = ['/usr/bin/dbus-daemon', '/bin/dbus-daemon'];
/** The other programs the harness and its callers run. */
const TOOLS = ['unshare', 'nsenter', 'script', 'tty', 'busctl', 'systemctl', 'systemd-run'];
// SIGRTMIN+14: "immediate poweroff" to systemd, which as a container's PID 1
// means exit. glibc's SIGRTMIN is 34 (the kernel's 32, two kept for threads);
// systemd reads the signal through glibc, so 48. Node has no name for it.
const SIGRTMIN_PLUS_14 = 48;

let serial = 0;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const firstExisting = (paths) => paths.find((p) => fs.existsSync(p));
const onPath = (name) => (process.env.PATH || '/usr/bin:/bin').split(':').some((d) => d && fs.existsSync(path.join(d, name)));

/**
 * What is missing for startSystemd on this machine (systemd, dbus-daemon, the
 * tools), as a sentence; undefined where nothing is.
 */
function systemdMissing() {
  const missing = [];
  if (!firstExisting(SYSTEMD_CANDIDATES)) missing.push(`systemd (${SYSTEMD_CANDIDATES.join(' or ')})`);
  if (!firstExisting(DBUS_DAEMON_CANDIDATES)) missing.push(`dbus-daemon (${DBUS_DAEMON_CANDIDATES.join(' or ')})`);
  for (const t of TOOLS) if (!onPath(t)) missing.push(`${t} (on PATH)`);
  return missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined;
}

const UNIT_DBUS_SOCKET = `[Unit]
Description=D-Bus system bus socket (test harness)

[Socket]
ListenStream=/run/dbus/system_bus_socket
`;

const unitDbusService = (dbusDaemon) => `[Unit]
Description=D-Bus system bus (test harness)
Requires=dbus.socket
After=dbus.socket

[Service]
ExecStart=${dbusDaemon} --config-file=/run/tsbox-sd/dbus.conf --address=systemd: --nofork --nopidfile
`;

const unitDefaultTarget = (wants) => `[Unit]
Description=systemd test harness
Wants=${wants.join(' ')}
`;

// The socket comes from systemd (--address=systemd:); the <listen> is there
// because a config needs one. Only root is on this bus.
const DBUS_CONF = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=/run/dbus/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy user="root">
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`;

// PID 1 of the new pid + mount + UTS namespaces, first as this shell:
// $1 the harness directory, $2 the cgroup made for systemd, $3 systemd,
// $4 its log level; its stdio is script(1)'s terminal.
// It moves itself into that cgroup and only then unshares the cgroup
// namespace (so the namespace's root is that cgroup, and unshare's parent
// process stays where it was, outside), sets up the mounts, and becomes
// systemd (exec keeps PID 1).
const PID1_SCRIPT = `set -eu
H=$1 CGDIR=$2 SYSTEMD=$3
echo 0 > "$CGDIR/cgroup.procs"
mount -t tmpfs -o mode=755,size=64m tmpfs /run
mkdir -p /run/systemd/system /run/tsbox-sd/empty
cp "$H"/units/* /run/systemd/system/
cp "$H/dbus.conf" /run/tsbox-sd/dbus.conf
mount -t tmpfs -o mode=755,size=64m tmpfs /var
mkdir -p /var/tmp /var/lib /var/log
ln -s ../run /var/run
# The machine's /etc/machine-id, where it has one, stays untouched.
if [ -e /etc/machine-id ]; then mount --bind "$H/machine-id" /etc/machine-id; fi
console=$(tty) || { echo "pid1.sh: stdin is no terminal for /dev/console (script(1) gives one)" >&2; exit 1; }
mount --bind "$console" /dev/console
umount -l /sys/fs/cgroup
exec unshare --cgroup /bin/sh -c 'mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec "$@"' sh \\
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin container=tsbox-test \\
    SYSTEMD_UNIT_PATH=/run/systemd/transient:/run/systemd/system \\
    SYSTEMD_GENERATOR_PATH=/run/tsbox-sd/empty SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/tsbox-sd/empty \\
  "$SYSTEMD" --log-target=console --log-level="$4" --show-status=false \\
    --default-standard-output=tty --default-standard-error=tty
`;

/** The last `n` lines of a file ("" where it is missing). */
function tail(file, n) {
  try {
    return fs.readFileSync(file, 'utf8').replace(/\r/g, '').split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/** Kills every process in a cgroup tree we made (cgroup.kill) and waits, at most `ms`, for it to empty. */
async function killCgroup(dir, ms = 5000) {
  try {
    fs.writeFileSync(path.join(dir, 'cgroup.kill'), '1');
  } catch {
    return;
  }
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && /^populated 1$/m.test(fs.readFileSync(path.join(dir, 'cgroup.events'), 'utf8'))) await sleep(20);
}

/** Removes a cgroup directory we made and everything below it: kill, then rmdir bottom-up (retrying while the kernel reaps). */
async function removeCgroupTree(dir, ms = 10000) {
  if (!fs.existsSync(dir)) return;
  await killCgroup(dir);
  const deadline = Date.now() + ms;
  const rm = async (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) await rm(path.join(d, e.name));
    for (;;) {
      try {
        fs.rmdirSync(d);
        return;
      } catch (err) {
        if (err.code === 'ENOENT') return;
        if (Date.now() > deadline) throw new Error(`rmdir ${d}: ${err.code} (processes left: ${fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').trim().split('\n').join(' ')})`);
        await sleep(20);
      }
    }
  };
  await rm(dir);
}

/**
 * Starts systemd (see the top of this file) and resolves once its manager
 * answers over D-Bus on the system bus with SystemState "running".
 *
 *   tmpDir         a directory for the harness's files (units, configs, the
 *                  logs); the caller removes it.
 *   opts.timeoutMs how long systemd may take to come up (default 120000).
 *   opts.units     extra unit files, { 'name.service': 'text' }, put in
 *                  /run/systemd/system beside ours; the default target wants
 *                  each of them.
 *   opts.logLevel  systemd's --log-level (default "info").
 *
 * Rejects, with the end of systemd's log, where it does not come up; what
 * was started is stopped and the cgroup removed first.
 */
async function startSystemd(tmpDir, opts = {}) {
  const { timeoutMs = 120000, units = {}, logLevel = 'info' } = opts;
  if (process.getuid() !== 0) throw new Error('startSystemd: needs root');
  if (!fs.existsSync(path.join(CG, 'cgroup.controllers')) || fs.existsSync(path.join(CG, 'memory'))) {
    throw new Error(`startSystemd: ${CG} is not a pure cgroup2 mount`);
  }
  const missing = systemdMissing();
  if (missing) throw new Error(`startSystemd: ${missing}`);
  const systemd = firstExisting(SYSTEMD_CANDIDATES);
  const dbusDaemon = firstExisting(DBUS_DAEMON_CANDIDATES);

  const name = `tsbox-sd-${process.pid}-${++serial}`;
  const dir = path.join(tmpDir, name);
  const unitDir = path.join(dir, 'units');
  fs.mkdirSync(unitDir, { recursive: true });
  const ourUnits = { 'dbus.socket': UNIT_DBUS_SOCKET, 'dbus.service': unitDbusService(dbusDaemon) };
  const wants = ['dbus.socket', 'dbus.service', ...Object.keys(units).filter((u) => u !== 'default.target' && !(u in ourUnits))];
  for (const [unit, text] of Object.entries({ ...ourUnits, 'default.target': unitDefaultTarget(wants), ...units })) {
    fs.writeFileSync(path.join(unitDir, unit), text);
  }
  fs.writeFileSync(path.join(dir, 'dbus.conf'), DBUS_CONF);
  fs.writeFileSync(path.join(dir, 'machine-id'), `${crypto.randomBytes(16).toString('hex')}\n`);
  fs.writeFileSync(path.join(dir, 'pid1.sh'), PID1_SCRIPT);
  const consoleLog = path.join(dir, 'console.log');
  const outputLog = path.join(dir, 'output.log');
  fs.writeFileSync(consoleLog, '');

  const cgroup = path.join(CG, name);
  const harnessCgroup = path.join(cgroup, 'harness');
  fs.mkdirSync(cgroup);
  fs.mkdirSync(harnessCgroup);

  const out = fs.openSync(outputLog, 'a');
  const q = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
  const unshare = ['unshare', '--pid', '--fork', '--mount', '--uts', '--mount-proc', '--propagation', 'private', '/bin/sh', path.join(dir, 'pid1.sh'), dir, cgroup, systemd, logLevel];
  // script(1): a terminal for systemd's /dev/console, its output into console.log.
  const outer = spawn('script', ['--quiet', '--flush', '--return', '--command', unshare.map(q).join(' '), consoleLog], {
    stdio: ['ignore', 'ignore', out],
    env: { PATH: process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin', SHELL: '/bin/sh' },
  });
  fs.closeSync(out);
  let exited = null;
  const exit = new Promise((resolve) => {
    outer.on('exit', (code, signal) => resolve((exited = { code, signal })));
    outer.on('error', (err) => resolve((exited = { code: null, signal: null, error: err })));
  });
  const logs = () => `--- systemd's log and its services' output (${consoleLog}):\n${tail(consoleLog, 60)}${tail(outputLog, 30) ? `\n--- script(1)'s errors (${outputLog}):\n${tail(outputLog, 30)}` : ''}`;

  let pid;
  let stopped;
  const sd = {
    name,
    /** systemd's pid here (the machine's pid namespace). */
    get pid() {
      return pid;
    },
    /** Its cgroup namespace's root, in the machine's tree: /sys/fs/cgroup/<name>. */
    cgroup,
    /** The leaf cgroup sd.exec/sd.spawn run in: <cgroup>/harness ("/harness" inside). */
    harnessCgroup,
    /** The harness's files: units/, dbus.conf, pid1.sh, console.log (systemd's log, its services' output), output.log (script(1)'s errors). */
    dir,
    logs,
    spawn: (argv, o) => spawnIn(pid, harnessCgroup, argv, o),
    exec: (argv, o) => execIn(pid, harnessCgroup, argv, o),
    /** The pid inside systemd's pid namespace of the process with pid `hostPid` here (NSpid), or undefined. */
    nsPid(hostPid) {
      try {
        const ids = /^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${hostPid}/status`, 'utf8'))[1].trim().split(/\s+/).map(Number);
        return ids.length > 1 ? ids[ids.length - 1] : undefined;
      } catch {
        return undefined;
      }
    },
    /**
     * Stops systemd: SIGRTMIN+14 (exit, for systemd in a container), SIGKILL
     * to it after `timeoutMs` (its pid namespace goes with it); then removes
     * its cgroup tree. Resolves to { forced, ms, exit } (exit: script(1)'s
     * { code, signal }); a second call gets the first's result.
     */
    stop(o = {}) {
      stopped ??= (async () => {
        const t = Date.now();
        let forced = false;
        // First what sd.spawn started and left running. Its nsenter parents
        // (outside systemd's pid namespace) must go before systemd-shutdown's
        // SIGSTOP round: nsenter stops itself when its child stops, and then
        // nothing outside would continue it, nor reap the child's zombie
        // that systemd-shutdown waits for.
        await killCgroup(harnessCgroup);
        if (pid && !exited) {
          try {
            process.kill(pid, SIGRTMIN_PLUS_14);
          } catch {}
          const timer = sleep(o.timeoutMs ?? 20000).then(() => 'timeout');
          if ((await Promise.race([exit, timer])) === 'timeout') {
            forced = true;
            try {
              process.kill(pid, 'SIGKILL');
            } catch {}
            await killCgroup(cgroup);
          }
        } else if (!exited) {
          forced = true;
          outer.kill('SIGKILL');
        }
        const how = await exit;
        await removeCgroupTree(cgroup);
        return { forced, ms: Date.now() - t, exit: how };
      })();
      return stopped;
    },
  };

  try {
    const deadline = Date.now() + timeoutMs;
    const notUp = (why) => new Error(`startSystemd: systemd ${why}\n${logs()}`);
    // systemd's pid: PID 1 inside is the one process in its cgroup (until
    // systemd moves itself to init.scope).
    const cgroupProcs = (d) => {
      try {
        return fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    while (!pid) {
      if (exited) throw notUp(`exited at once (${JSON.stringify(exited)})`);
      if (Date.now() > deadline) throw notUp(`did not start in ${timeoutMs} ms`);
      pid = [...cgroupProcs(cgroup), ...cgroupProcs(path.join(cgroup, 'init.scope'))][0];
      if (!pid) await sleep(20);
    }
    // Up: both sockets there, and the manager answering on the bus.
    const root = `/proc/${pid}/root`;
    let last = '';
    for (;;) {
      if (exited) throw notUp(`exited (${JSON.stringify(exited)})`);
      if (Date.now() > deadline) throw notUp(`was not up in ${timeoutMs} ms (last: ${last})`);
      if (fs.existsSync(`${root}/run/systemd/private`) && fs.existsSync(`${root}/run/dbus/system_bus_socket`)) {
        const r = await sd.exec(['busctl', 'get-property', 'org.freedesktop.systemd1', '/org/freedesktop/systemd1', 'org.freedesktop.systemd1.Manager', 'SystemState'], {
          allowFailure: true,
          timeoutMs: Math.max(1000, deadline - Date.now()),
        });
        last = `${r.stdout.trim()} ${r.stderr.trim()}`.trim();
        if (r.stdout.trim() === 's "running"') return sd;
        if (r.stdout.trim() === 's "degraded"') {
          const failed = await sd.exec(['systemctl', '--failed', '--no-legend'], { allowFailure: true });
          throw notUp(`is up but degraded; failed units: ${failed.stdout.trim()}`);
        }
      }
      await sleep(50);
    }
  } catch (err) {
    await sd.stop({ timeoutMs: 5000 }).catch(() => undefined);
    throw err;
  }
}

/**
 * Runs argv inside systemd's pid, mount, UTS and cgroup namespaces, from the
 * harness cgroup: a shell here moves itself there, then becomes nsenter
 * (which forks the command into the pid namespace and waits for it).
 * `opts` are child_process.spawn's, but cwd is the directory inside
 * (default "/").
 */
function spawnIn(pid, harnessCgroup, argv, opts = {}) {
  if (!pid) throw new Error('sd.spawn: systemd is not running');
  if (!Array.isArray(argv) || argv.length === 0) throw new Error('sd.spawn: argv must be a non-empty array');
  const { cwd = '/', ...rest } = opts;
  const script = 'echo $$ > "$1" && t=$2 w=$3 && shift 3 && exec nsenter -t "$t" -p -m -u -C --wd="$w" -- "$@"';
  return spawn('/bin/sh', ['-c', script, 'sd-exec', path.join(harnessCgroup, 'cgroup.procs'), String(pid), cwd, ...argv], rest);
}

/**
 * Runs argv as spawnIn does; resolves to { status, signal, stdout, stderr }.
 * Rejects where it exits other than with status 0 (unless
 * opts.allowFailure), or runs longer than opts.timeoutMs (default 60000;
 * then it is killed). opts.input is written to its stdin.
 */
function execIn(pid, harnessCgroup, argv, opts = {}) {
  const { allowFailure = false, timeoutMs = 60000, input, ...rest } = opts;
  return new Promise((resolve, reject) => {
    const child = spawnIn(pid, harnessCgroup, argv, { ...rest, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.end(input ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`sd.exec ${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      const r = { status, signal, stdout, stderr };
      if (timedOut) reject(new Error(`sd.exec ${argv.join(' ')}: still running after ${timeoutMs} ms (stderr: ${stderr.trim()})`));
      else if (status !== 0 && !allowFailure) reject(new Error(`sd.exec ${argv.join(' ')}: exit status ${status}${signal ? `, signal ${signal}` : ''}\nstdout: ${stdout.trim()}\nstderr: ${stderr.trim()}`));
      else resolve(r);
    });
  });
}

module.exports = { startSystemd, systemdMissing };
