'use strict';
// A container through the library and through the command line, on the
// Node that runs this script, as a user of the package would: CI runs it on
// every Node version it tests (.ci/run), against this checkout and against
// the packed tarball installed into a fresh project (scripts/pack-test.js).
//
//   node scripts/round-trip.js [--from DIR]
//
// --from DIR: a project with tsbox installed in its node_modules (default:
// this checkout). The library is require('tsbox') from there and the CLI
// `npx --no-install tsbox` run there. Needs root and /bin/busybox (Debian:
// busybox-static). Prints one line per check; exits 1 if any fails.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
// Node 26 held the library's promises until some other callback ran (the
// addon settled them outside a callback scope): run() took as long as an
// unrelated timer had left. Any call slower than this is that bug.
const STALL_MS = 5_000;

function parseArgs(argv) {
  if (argv.length === 0) return { from: ROOT };
  if (argv.length === 2 && argv[0] === '--from') return { from: path.resolve(argv[1]) };
  console.error('usage: node scripts/round-trip.js [--from DIR]');
  process.exit(2);
}

/** A bundle whose rootfs is busybox, running `sh -c script`. */
function makeBundle(dir, script, terminal = false) {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp']) fs.mkdirSync(path.join(rootfs, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  for (const applet of ['sh', 'sleep', 'hostname']) fs.symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  return (tsbox) => {
    const spec = tsbox.defaultSpec({ args: ['/bin/sh', '-c', script] });
    spec.process.terminal = terminal;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
    return dir;
  };
}

/**
 * Runs a command to its exit; resolves { status, signal, stdout, stderr }.
 * Output goes through files, not pipes: a created container's init keeps
 * the caller's stdio, and a pipe would stay open as long as it runs.
 */
function exec(command, args, options) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-round-trip-out-'));
  const out = fs.openSync(path.join(dir, 'out'), 'w+');
  const err = fs.openSync(path.join(dir, 'err'), 'w+');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', out, err], ...options });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'), stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8') });
    });
  }).finally(() => {
    fs.closeSync(out);
    fs.closeSync(err);
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

function expectEqual(what, actual, expected) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

async function main() {
  const { from } = parseArgs(process.argv.slice(2));
  if (process.getuid() !== 0) throw new Error('needs root (containers)');
  if (!fs.existsSync('/bin/busybox')) throw new Error('/bin/busybox is missing (apt-get install busybox-static)');
  const entry = require.resolve('tsbox', { paths: [from] });
  const tsbox = require(entry);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-round-trip-'));
  const root = path.join(tmp, 'state');
  const checks = [];
  const check = (name, fn) => checks.push({ name, fn });
  // The npx of this Node (npm ships beside node), and this node first on
  // PATH for bin/tsbox's "#!/usr/bin/env node".
  const nodeDir = path.dirname(process.execPath);
  const npx = fs.existsSync(path.join(nodeDir, 'npx')) ? path.join(nodeDir, 'npx') : 'npx';
  const env = { ...process.env, PATH: `${nodeDir}:${process.env.PATH}` };
  const cli = (args) => exec(npx, ['--no-install', 'tsbox', '--root', root, ...args], { cwd: from, env });

  check('library: run() with an unrelated timer pending', async () => {
    const bundle = makeBundle(path.join(tmp, 'lib'), 'echo hello from $(hostname); exit 3')(tsbox);
    const pending = setTimeout(() => {}, 60_000);
    try {
      const t0 = Date.now();
      const c = await tsbox.run(bundle, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      const status = await c.exited;
      await new Promise((resolve) => (c.stdout.readableEnded ? resolve() : c.stdout.once('end', resolve)));
      const ms = Date.now() - t0;
      expectEqual('exit', status, { code: 3, signal: null, status: 3 });
      expectEqual('output', out, 'hello from tsbox\n');
      if (ms > STALL_MS) throw new Error(`run() took ${ms} ms (an unrelated timer held it up)`);
    } finally {
      clearTimeout(pending);
    }
  });

  check('library: Runtime create, start, state, kill, delete', async () => {
    const bundle = makeBundle(path.join(tmp, 'rt'), 'sleep 60')(tsbox);
    const rt = new tsbox.Runtime({ root });
    const pending = setTimeout(() => {}, 60_000);
    try {
      const t0 = Date.now();
      await rt.create('rt', bundle, { stdio: 'ignore' });
      expectEqual('state after create', rt.state('rt').status, 'created');
      await rt.start('rt');
      expectEqual('state after start', rt.state('rt').status, 'running');
      await rt.kill('rt', 'KILL');
      for (let i = 0; i < 200 && rt.state('rt').status !== 'stopped'; i++) await new Promise((r) => setTimeout(r, 10));
      expectEqual('state after kill', rt.state('rt').status, 'stopped');
      await rt.delete('rt');
      expectEqual('list after delete', rt.list(), []);
      if (Date.now() - t0 > STALL_MS) throw new Error(`the round trip took ${Date.now() - t0} ms`);
    } finally {
      clearTimeout(pending);
    }
  });

  check('CLI: npx tsbox run', async () => {
    const bundle = makeBundle(path.join(tmp, 'cli'), 'echo hello from $(hostname); exit 4')(tsbox);
    const r = await cli(['run', '--bundle', bundle, 'cli']);
    expectEqual('npx tsbox run', { status: r.status, stdout: r.stdout, stderr: r.stderr }, { status: 4, stdout: 'hello from tsbox\n', stderr: '' });
  });

  check('CLI: npx tsbox create, start, state, delete', async () => {
    const bundle = makeBundle(path.join(tmp, 'cli-lc'), 'sleep 60')(tsbox);
    const create = await cli(['create', '--bundle', bundle, 'lc']);
    expectEqual('create', [create.status, create.stderr], [0, '']);
    expectEqual('start', (await cli(['start', 'lc'])).status, 0);
    const state = await cli(['state', 'lc']);
    expectEqual('state', JSON.parse(state.stdout).status, 'running');
    expectEqual('delete --force', (await cli(['delete', '--force', 'lc'])).status, 0);
    expectEqual('list', (await cli(['list', '--quiet'])).stdout, '');
  });

  check('CLI: run with process.terminal and stdin not a terminal fails in one line', async () => {
    const bundle = makeBundle(path.join(tmp, 'tty'), 'exec sh', true)(tsbox);
    const r = await cli(['run', '--bundle', bundle, 'tty']);
    if (r.status !== 1 || !/^tsbox: process\.terminal is true but stdin is not a terminal: .*\n$/.test(r.stderr)) {
      throw new Error(`status ${r.status}, stderr ${JSON.stringify(r.stderr)}`);
    }
  });

  let failed = 0;
  try {
    for (const { name, fn } of checks) {
      try {
        await fn();
        console.log(`ok - ${name}`);
      } catch (err) {
        failed++;
        console.log(`not ok - ${name}: ${err && err.message ? err.message : err}`);
      }
    }
  } finally {
    await exec(npx, ['--no-install', 'tsbox', '--root', root, 'delete', '--force', 'lc'], { cwd: from, env }).catch(() => undefined);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const where = from === ROOT ? 'this checkout' : from;
  console.log(`round trip on Node ${process.version} (${where}): ${checks.length - failed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`round trip: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
