'use strict';
// `npm test`: the test suite (vitest) with its JSON report beside its usual
// output, then the totals as one plain line, "N passed, N failed,
// N skipped", which CI reads, and, when tests were skipped, one line
// saying why and which Debian packages would run them. Arguments are
// passed on to vitest (npm test -- test/unit). Exits with vitest's status.
//
// Tests that need a program say so in their title, as
// "(skipped: not installed: podman, conmon)" (test/helpers/engines.ts
// skipReason); other reasons are counted as they are written.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/** The Debian package that brings each program a skipped test names. */
const PACKAGE_OF = {
  podman: 'podman',
  conmon: 'conmon',
  containerd: 'containerd',
  ctr: 'containerd',
  'containerd-shim-runc-v2': 'containerd',
  dockerd: 'docker.io',
  docker: 'docker.io',
  newuidmap: 'uidmap',
  newgidmap: 'uidmap',
  'dbus-daemon': 'dbus-daemon',
  script: 'util-linux',
  unshare: 'util-linux',
  nsenter: 'util-linux',
  setpriv: 'util-linux',
  ip: 'iproute2',
  iptables: 'iptables',
  chroot: 'coreutils',
  tar: 'tar',
};

/** "12 need podman, conmon (apt-get install ...); 3: other reason" from the skipped tests' titles. */
function skippedLine(report) {
  const byReason = new Map();
  for (const file of report.testResults ?? []) {
    for (const t of file.assertionResults ?? []) {
      if (t.status !== 'skipped' && t.status !== 'pending' && t.status !== 'todo') continue;
      const titles = [...(t.ancestorTitles ?? []), t.title].join(' ');
      const reason = (/\(skipped: ([^)]*)\)/.exec(titles) ?? /\bskipped[:,] (.*)$/.exec(titles))?.[1] ?? `no reason given (${path.basename(file.name)})`;
      byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    }
  }
  if (byReason.size === 0) return undefined;
  const packages = new Set();
  const parts = [];
  for (const [reason, n] of [...byReason].sort((a, b) => b[1] - a[1])) {
    const m = /^not installed: (.*)$/.exec(reason);
    if (!m) {
      parts.push(`${n}: ${reason}`);
      continue;
    }
    const programs = m[1].split(', ').map((p) => p.split(' or ')[0]);
    for (const p of programs) packages.add(PACKAGE_OF[path.basename(p)] ?? p);
    parts.push(`${n} need ${programs.join(', ')}`);
  }
  const install = packages.size > 0 ? ` (to run them: apt-get install ${[...packages].join(' ')})` : '';
  return `skipped: ${parts.join('; ')}${install}`;
}

function main() {
  const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-tests-')), 'report.json');
  const vitest = path.join(__dirname, '..', 'node_modules', 'vitest', 'vitest.mjs');
  const result = spawnSync(
    process.execPath,
    [vitest, 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  let summary = 'no test report was written';
  let skipped;
  try {
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`;
    skipped = skippedLine(r);
  } catch (err) {
    summary += ` (${err.message})`;
  }
  fs.rmSync(path.dirname(report), { recursive: true, force: true });
  console.log(summary);
  if (skipped) console.log(skipped);
  process.exit(result.status ?? 1);
}

module.exports = { skippedLine };

if (require.main === module) main();
