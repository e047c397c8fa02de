'use strict';
// Debian packages for arm64, fetched and unpacked without touching the
// host's dpkg or apt: `apt-get download` with lists, a cache and an
// architecture of its own under a temp directory, then `dpkg-deb -x`.
// scripts/prebuild.js takes libseccomp.a from here, scripts/arm64-test.js
// the loader, libraries and busybox an arm64 node needs under qemu-user.

const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function hasProgram(name) {
  return (process.env.PATH ?? '').split(':').some((d) => d && fs.existsSync(path.join(d, name)));
}

/**
 * Downloads the arm64 `packages` and unpacks them all into `tmp`/`into`;
 * returns { dir, debs } or { why } naming what failed.
 */
function unpackArm64Debs(tmp, packages, into) {
  if (!hasProgram('apt-get') || !hasProgram('dpkg-deb')) return { why: `no apt-get and dpkg-deb to fetch ${packages.join(', ')} for arm64` };
  const apt = path.join(tmp, 'apt');
  for (const d of ['lists/partial', 'cache/archives/partial']) fs.mkdirSync(path.join(apt, d), { recursive: true });
  // apt with lists and a cache of its own, for arm64 only: the host's
  // architectures, lists and locks stay as they are.
  const options = [
    `Dir::State::Lists=${apt}/lists`,
    `Dir::Cache=${apt}/cache`,
    'APT::Architecture=arm64',
    'APT::Architectures::=arm64',
    'APT::Sandbox::User=root',
    'Debug::NoLocking=1',
  ].flatMap((o) => ['-o', o]);
  const debs = path.join(tmp, `debs-${into}`);
  fs.mkdirSync(debs);
  const steps = [['-qq', 'update'], ['-qq', 'download', ...packages.map((p) => `${p}:arm64`)]];
  for (const args of steps) {
    const r = spawnSync('apt-get', [...options, ...args], { cwd: debs, encoding: 'utf8' });
    if (r.status !== 0) return { why: `apt-get ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}` };
  }
  const files = fs.readdirSync(debs).filter((f) => f.endsWith('.deb'));
  if (files.length !== packages.length) return { why: `apt-get download ${packages.join(' ')} (arm64) gave ${files.length} package(s)` };
  const dir = path.join(tmp, into);
  for (const f of files) execFileSync('dpkg-deb', ['-x', path.join(debs, f), dir]);
  return { dir, debs: files };
}

module.exports = { hasProgram, unpackArm64Debs };
