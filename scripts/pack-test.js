'use strict';
// The package as its users get it: `npm pack` (whose prepack step makes the
// prebuilds), then `npm install --ignore-scripts` of the tarball into a
// fresh project (no compiler is used, no install script runs), then a
// container through the library and `npx tsbox` there on each Node given
// (scripts/round-trip.js). Then, with the prebuilds taken away, the CLI and
// the library must say in one line what to install, with no stack trace.
// Last, the linux-arm64 prebuilds run under qemu-user (scripts/arm64-test.js;
// skipped, with the reason, where qemu-user-static is missing).
//
//   node scripts/pack-test.js [--tarball FILE] [--node PATH]...
//
// --tarball: test this tarball instead of packing one; --node: a node
// binary to run the round trip with (repeatable; default: this one).
// Prints the tarball's size and contents and what the install cost. Needs
// root and /bin/busybox, as the round trip does.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const NO_BUILD = /^tsbox: no native build of tsbox for linux-\w+ \(glibc\) in .*: install a C\+\+ compiler and libseccomp \(Debian: apt-get install build-essential libseccomp-dev\), then run npm rebuild tsbox\n$/;

function parseArgs(argv) {
  const out = { tarball: undefined, nodes: [] };
  for (let i = 0; i < argv.length; i += 2) {
    if (argv[i] === '--tarball' && argv[i + 1]) out.tarball = path.resolve(argv[i + 1]);
    else if (argv[i] === '--node' && argv[i + 1]) out.nodes.push(path.resolve(argv[i + 1]));
    else throw new Error('usage: node scripts/pack-test.js [--tarball FILE] [--node PATH]...');
  }
  if (out.nodes.length === 0) out.nodes.push(process.execPath);
  return out;
}

function kib(bytes) {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

/** Runs npm (the one beside this node, else PATH's) and returns its stdout. */
function npm(args, cwd) {
  const beside = path.join(path.dirname(process.execPath), 'npm');
  return execFileSync(fs.existsSync(beside) ? beside : 'npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

/** What the addon's absence looks like to the CLI and to the library. */
function checkNoBuildMessage(consumer, node) {
  const pkg = path.join(consumer, 'node_modules', 'tsbox');
  const prebuilds = path.join(pkg, 'prebuilds');
  const aside = path.join(pkg, 'prebuilds.aside');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-nobuild-'));
  fs.renameSync(prebuilds, aside);
  try {
    const bundle = path.join(tmp, 'bundle');
    fs.mkdirSync(path.join(bundle, 'rootfs', 'bin'), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(bundle, 'rootfs', 'bin', 'sh'));
    const lib = require(require.resolve('tsbox', { paths: [consumer] }));
    const spec = lib.defaultSpec({ args: ['/bin/sh', '-c', 'true'] });
    spec.process.terminal = false;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    const env = { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH}` };
    const cli = spawnSync(node, [path.join(pkg, 'bin', 'tsbox'), '--root', path.join(tmp, 'state'), 'run', bundle], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (cli.status !== 1 || !NO_BUILD.test(cli.stderr)) throw new Error(`CLI without a build: status ${cli.status}, stderr ${JSON.stringify(cli.stderr)}`);
    const script = `require('tsbox').run(${JSON.stringify(bundle)}, { stdio: 'ignore' }).then(() => process.exit(3), (e) => { console.log(e.name + ': ' + e.message); process.exit(0); })`;
    const library = spawnSync(node, ['-e', script], { cwd: consumer, encoding: 'utf8', env });
    if (library.status !== 0 || !NO_BUILD.test(library.stdout.replace(/^TsboxError: /, 'tsbox: '))) {
      throw new Error(`library without a build: status ${library.status}, ${JSON.stringify(library.stdout + library.stderr)}`);
    }
    console.log('ok - without a prebuild: the CLI and the library say in one line what to install and to run npm rebuild tsbox');
  } finally {
    fs.renameSync(aside, prebuilds);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function main() {
  const { tarball: given, nodes } = parseArgs(process.argv.slice(2));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-pack-test-'));
  let failed = 0;
  try {
    let tarball = given;
    if (!tarball) {
      const t0 = Date.now();
      // The local build the tests use must outlive the prebuilds being made.
      const local = path.join(ROOT, 'build', 'Release', 'tsbox.node');
      const before = fs.statSync(local, { throwIfNoEntry: false });
      npm(['pack', '--pack-destination', tmp], ROOT);
      const after = fs.statSync(local, { throwIfNoEntry: false });
      if (before && (!after || after.ino !== before.ino || after.mtimeMs !== before.mtimeMs)) throw new Error(`npm pack changed or removed ${local}`);
      const file = fs.readdirSync(tmp).find((f) => f.endsWith('.tgz'));
      if (!file) throw new Error('npm pack made no tarball');
      tarball = path.join(tmp, file);
      console.log(`npm pack: ${file} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    }
    // What is in it: the README's numbers come from these lines.
    const listing = execFileSync('tar', ['-tvzf', tarball], { encoding: 'utf8' }).trim().split('\n');
    const entries = listing.map((l) => ({ size: Number(l.split(/\s+/)[2]), name: l.split(/\s+/).slice(5).join(' ').replace(/^package\//, '') }));
    const unpacked = entries.reduce((n, e) => n + e.size, 0);
    console.log(`tarball: ${kib(fs.statSync(tarball).size)} (${kib(unpacked)} unpacked, ${entries.length} files)`);
    // By top directory; prebuilds by platform folder.
    const groups = new Map();
    for (const e of entries) {
      const parts = e.name.split('/');
      const group = parts.length === 1 ? e.name : `${parts.slice(0, parts[0] === 'prebuilds' && parts.length > 2 ? 2 : 1).join('/')}/`;
      const g = groups.get(group) ?? { files: 0, size: 0 };
      groups.set(group, { files: g.files + 1, size: g.size + e.size });
    }
    for (const [group, g] of [...groups].sort()) console.log(`  ${group}: ${g.files} file${g.files > 1 ? 's' : ''}, ${kib(g.size)}`);
    for (const needed of ['prebuilds/linux-x64/tsbox.glibc.node', 'prebuilds/linux-x64/tsbox-helper', 'dist/index.js', 'dist/index.d.ts', 'bin/tsbox', 'LICENSE']) {
      if (!entries.some((e) => e.name === needed)) throw new Error(`the tarball has no ${needed}`);
    }
    for (const e of entries) {
      if (/^(test|build|node_modules|scripts\/(?!pack-cli\.js))/.test(e.name)) throw new Error(`the tarball should not hold ${e.name}`);
      // It names the packer's Node: the install makes the user's.
      if (e.name === 'dist/tsbox') throw new Error('the tarball should not hold dist/tsbox');
    }

    const consumer = path.join(tmp, 'consumer');
    fs.mkdirSync(consumer);
    fs.writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    const t0 = Date.now();
    npm(['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball], consumer);
    const du = execFileSync('du', ['-sk', path.join(consumer, 'node_modules')], { encoding: 'utf8' }).split('\t')[0];
    const installed = fs.readdirSync(path.join(consumer, 'node_modules')).filter((n) => !n.startsWith('.'));
    console.log(`install --ignore-scripts: ${((Date.now() - t0) / 1000).toFixed(1)} s, node_modules ${(Number(du) / 1024).toFixed(1)} MiB (${installed.join(', ')})`);
    if (fs.existsSync(path.join(consumer, 'node_modules', 'tsbox', 'build'))) throw new Error('the install built the addon: it should have used the prebuild');

    // With install scripts (npm before 12), on a matching platform: the
    // install script finds the prebuild and compiles nothing (a compiler
    // that always fails would fail the install otherwise).
    const withScripts = path.join(tmp, 'with-scripts');
    fs.mkdirSync(withScripts);
    fs.writeFileSync(path.join(withScripts, 'package.json'), JSON.stringify({ name: 'with-scripts', version: '1.0.0', private: true }));
    execFileSync(fs.existsSync(path.join(path.dirname(process.execPath), 'npm')) ? path.join(path.dirname(process.execPath), 'npm') : 'npm',
      ['install', '--foreground-scripts', '--no-audit', '--no-fund', tarball],
      { cwd: withScripts, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CC: '/bin/false', CXX: '/bin/false', LINK: '/bin/false' } });
    if (fs.existsSync(path.join(withScripts, 'node_modules', 'tsbox', 'build'))) throw new Error('the install script built the addon: it should have found the prebuild');
    console.log('ok - npm install with its install script: the prebuild is found, nothing is compiled (CC and CXX were /bin/false)');

    // npm install -g, into a prefix of its own: the command lands in
    // PREFIX/bin and runs (the README's "Installing").
    const prefix = path.join(tmp, 'global');
    npm(['install', '-g', '--prefix', prefix, '--ignore-scripts', '--no-audit', '--no-fund', tarball], tmp);
    const version = execFileSync(path.join(prefix, 'bin', 'tsbox'), ['--version'], { encoding: 'utf8' });
    if (!/^tsbox version /.test(version)) throw new Error(`PREFIX/bin/tsbox --version printed ${JSON.stringify(version)}`);
    console.log(`ok - npm install -g: the command is PREFIX/bin/tsbox, a link to ${path.relative(prefix, fs.realpathSync(path.join(prefix, 'bin', 'tsbox')))}`);

    for (const node of nodes) {
      const r = spawnSync(node, [path.join(__dirname, 'round-trip.js'), '--from', consumer], { stdio: 'inherit' });
      if (r.status !== 0) failed++;
    }
    try {
      checkNoBuildMessage(consumer, nodes[0]);
    } catch (err) {
      failed++;
      console.log(`not ok - without a prebuild: ${err.message}`);
    }
    const arm64 = spawnSync(process.execPath, [path.join(__dirname, 'arm64-test.js'), '--from', consumer], { stdio: 'inherit' });
    if (arm64.status !== 0) failed++;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`pack test: ${failed === 0 ? 'passed' : `${failed} part(s) failed`} on ${nodes.length} Node version(s)`);
  return failed === 0 ? 0 : 1;
}

try {
  process.exit(main());
} catch (err) {
  console.error(`pack test: ${err.message}`);
  process.exit(1);
}
