'use strict';
// Builds the prebuilds that ship in the package (npm pack runs this as its
// prepack step), so that installing tsbox needs no compiler:
//
//   prebuilds/linux-x64/tsbox.glibc.node     the addon (prebuildify --napi --strip --tag-libc)
//   prebuilds/linux-x64/tsbox-helper         the static helper, stripped
//   prebuilds/linux-arm64/...                the same, cross-compiled with Debian's
//                                            gcc-aarch64-linux-gnu / g++-aarch64-linux-gnu
//
//   node scripts/prebuild.js          this machine's architecture (npm run prebuild)
//   node scripts/prebuild.js --all    x64 and arm64 (npm pack's prepack step); a
//                                     foreign one is skipped, with the reason, where
//                                     it cannot be built
//
// Each target is built in a scratch copy of binding.gyp and native/, so the
// local build (build/Release, which the tests use) is left as it is:
// prebuildify would otherwise move build/Release/tsbox.node away.
//
// The arm64 helper links libseccomp statically, so it needs libseccomp.a
// built for arm64: from $TSBOX_ARM64_SECCOMP (a directory holding it), else
// /usr/lib/aarch64-linux-gnu, else Debian's libseccomp-dev:arm64 package
// (scripts/arm64-debs.js: the host's dpkg and apt configuration are not
// touched).
//
// There is no musl prebuild: the addon would have to be linked against musl
// (an Alpine toolchain or sysroot with libstdc++, which Debian does not
// package); --tag-libc makes sure a musl system is told to build instead of
// loading a glibc addon.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { hasProgram, unpackArm64Debs } = require('./arm64-debs.js');

const ROOT = path.resolve(__dirname, '..');
const PREBUILDIFY = path.join(ROOT, 'node_modules', 'prebuildify', 'bin.js');

/** What each architecture is built with; `cross` is the tool prefix when it is not this machine's. */
const TARGETS = {
  x64: { triplet: 'x86_64-linux-gnu', elfMachine: 62 },
  arm64: { triplet: 'aarch64-linux-gnu', elfMachine: 183 },
};

function log(text) {
  console.log(`prebuild: ${text}`);
}

/**
 * Node's headers for node-gyp: the running Node's own (a distribution's
 * nodejs puts them under its prefix) rather than a download.
 */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi')) ? prefix : undefined;
}

/** A directory holding libseccomp.a for arm64, or why there is none. */
function arm64Seccomp(tmp) {
  for (const dir of [process.env.TSBOX_ARM64_SECCOMP, '/usr/lib/aarch64-linux-gnu']) {
    if (dir && fs.existsSync(path.join(dir, 'libseccomp.a'))) return { dir };
  }
  const got = unpackArm64Debs(tmp, ['libseccomp-dev'], 'libseccomp-arm64');
  if (!got.dir) return { why: got.why };
  const dir = path.join(got.dir, 'usr', 'lib', 'aarch64-linux-gnu');
  if (!fs.existsSync(path.join(dir, 'libseccomp.a'))) return { why: `${got.debs[0]} has no libseccomp.a` };
  log(`libseccomp for arm64 from ${got.debs[0]}`);
  return { dir };
}

/**
 * Checks an ELF executable: built for `machine` and static (no program
 * interpreter), as the helper must be to run inside any container.
 */
function checkStaticElf(file, machine) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) throw new Error(`${file}: not a 64-bit ELF file`);
  if (b.readUInt16LE(18) !== machine) throw new Error(`${file}: built for ELF machine ${b.readUInt16LE(18)}, not ${machine}`);
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  for (let i = 0; i < b.readUInt16LE(56); i++) {
    if (b.readUInt32LE(phoff + i * phentsize) === 3) throw new Error(`${file}: dynamically linked (has a PT_INTERP): the helper must be static`);
  }
}

/** Builds one architecture into prebuilds/linux-ARCH; returns false, with the reason logged, if it cannot. */
function build(arch, tmp) {
  const target = TARGETS[arch];
  const native = os.arch() === arch;
  const env = { ...process.env };
  const dir = nodeDir();
  if (dir) env.npm_config_nodedir = dir;
  const args = [PREBUILDIFY, '--napi', '--strip', '--tag-libc', '--arch', arch];
  let strip = 'strip';
  if (!native) {
    const prefix = `${target.triplet}-`;
    for (const tool of ['gcc', 'g++', 'strip']) {
      if (!hasProgram(prefix + tool)) {
        log(`linux-${arch} SKIPPED: ${prefix}${tool} is missing (Debian: apt-get install gcc-${target.triplet} g++-${target.triplet})`);
        return false;
      }
    }
    const seccomp = arm64Seccomp(tmp);
    if (!seccomp.dir) {
      log(`linux-${arch} SKIPPED: ${seccomp.why}`);
      return false;
    }
    Object.assign(env, {
      CC: `${prefix}gcc`,
      CXX: `${prefix}g++`,
      LINK: `${prefix}g++`,
      AR: `${prefix}ar`,
      LDFLAGS: `-L${seccomp.dir}`,
    });
    strip = `${prefix}strip`;
    args.push('--strip-bin', strip);
  }
  // The scratch copy: what node-gyp needs to build, and the package's name
  // (prebuildify names the addon after it).
  const work = path.join(tmp, `build-${arch}`);
  fs.mkdirSync(work);
  for (const f of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(ROOT, f), path.join(work, f));
  fs.cpSync(path.join(ROOT, 'native'), path.join(work, 'native'), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'));
  const out = path.join(ROOT, 'prebuilds', `linux-${arch}`);
  fs.rmSync(out, { recursive: true, force: true });
  log(`linux-${arch}${native ? '' : ` (cross: ${env.CXX})`}`);
  const r = spawnSync(process.execPath, [...args, '--cwd', work, '--out', ROOT, '--quiet'], { env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify for linux-${arch} failed (status ${r.status})`);
  const helper = path.join(out, 'tsbox-helper');
  fs.copyFileSync(path.join(work, 'build', 'Release', 'tsbox-helper'), helper);
  execFileSync(strip, ['--strip-all', helper]);
  fs.chmodSync(helper, 0o755);
  checkStaticElf(helper, target.elfMachine);
  for (const f of fs.readdirSync(out)) log(`  prebuilds/linux-${arch}/${f} (${fs.statSync(path.join(out, f)).size} bytes)`);
  return true;
}

function main() {
  const args = process.argv.slice(2);
  if (args.length > 1 || (args.length === 1 && args[0] !== '--all')) throw new Error('usage: node scripts/prebuild.js [--all]');
  if (os.platform() !== 'linux' || !(os.arch() in TARGETS)) throw new Error(`prebuilds are made on linux x64 or arm64, not ${os.platform()}-${os.arch()}`);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-prebuild-'));
  try {
    // This machine's own first: without it the package would need a
    // compiler wherever it is installed, so its failure is fatal.
    const archs = args[0] === '--all' ? [os.arch(), ...Object.keys(TARGETS).filter((a) => a !== os.arch())] : [os.arch()];
    const built = archs.filter((arch) => build(arch, tmp));
    if (!built.includes(os.arch())) throw new Error(`no prebuild for this machine (linux-${os.arch()})`);
    log(`made ${built.map((a) => `linux-${a}`).join(', ')}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(`prebuild: ${err.message}`);
  process.exit(1);
}
