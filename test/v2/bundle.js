'use strict';
// The OCI bundle the v2 checks run: a busybox-static rootfs (from the
// machine's /bin/busybox) and a config.json of the test shape. One place
// for test/v2/checks.js and test/v2/systemd-checks.js (and the checks the
// latter loads).

const fs = require('node:fs');
const path = require('node:path');

const APPLETS = ['sh', 'sleep', 'true', 'cat', 'echo', 'seq', 'head', 'tr', 'mknod', 'setsid', 'grep', 'dd', 'tty', 'stat'];

/**
 * Writes `dir`/config.json and `dir`/rootfs; returns `dir`.
 *
 * `args` is process.args. `spec` adjusts the default config: `spec.linux`
 * and `spec.process` are merged over the defaults' (key by key), and
 * `spec.mounts` come after the default /proc and /dev mounts; any other
 * key replaces the default's. Where TSBOX_PROBE names a static
 * test/fixtures/probe.c binary (scripts/v2-tests.js builds one), it is
 * /bin/probe in the rootfs.
 */
function busyboxBundle(dir, args, spec = {}) {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  fs.chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) fs.symlinkSync('busybox', path.join(rootfs, 'bin', a));
  if (process.env.TSBOX_PROBE) {
    fs.copyFileSync(process.env.TSBOX_PROBE, path.join(rootfs, 'bin', 'probe'));
    fs.chmodSync(path.join(rootfs, 'bin', 'probe'), 0o755);
  }
  const { linux, process: proc, mounts, ...rest } = spec;
  const config = {
    ociVersion: '1.2.0',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin'], cwd: '/', ...proc },
    root: { path: 'rootfs' },
    hostname: 'v2',
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755', 'size=1024k'] },
      ...(mounts ?? []),
    ],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }], ...linux },
    ...rest,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

module.exports = { busyboxBundle };
