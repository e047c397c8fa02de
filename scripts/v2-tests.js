'use strict';
// The pure cgroup v2 checks (test/v2/checks.js), then the systemd ones
// (test/v2/systemd-checks.js: a real systemd in namespaces of its own, and
// the tsbox systemd driver's checks it loads), then checkpoint and restore
// through CRIU (test/v2/criu-checks.js: the VM's kernel 6.1 is one CRIU
// 3.17 runs on; it skips, saying so, where criu is not installed), in a throwaway VM whose
// cgroup2 root has every controller (test/v2/vm.js: this machine and CI's
// are hybrid hosts). One VM boots for all the checks; each prints a
// "V2RESULT {json}" line on the VM's console, read here.
//
//   node scripts/v2-tests.js [--only TEXT]
//
// Needs root, gcc (for the probe), dist/ and build/ built, and the VM set
// up once (node test/v2/vm.js setup). Skips, with a message and exit
// status 0, where the VM is not set up; skips the systemd part, with a
// message, where systemd or dbus-daemon is not installed (the VM runs this
// machine's).

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { systemdMissing } = require('../test/v2/systemd');
const vm = require('../test/v2/vm');

function skip(why) {
  console.log(`v2 tests: SKIPPED: ${why}`);
  process.exit(0);
}

async function main() {
  const only = process.argv[2] === '--only' ? process.argv[3] : undefined;
  if (process.getuid() !== 0) skip('not root');
  const notHere = vm.missing();
  if (notHere) skip(notHere);
  for (const f of ['dist/index.js', 'build/Release/tsbox.node', 'build/Release/tsbox-helper']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: build first (npm run build)`);
  }

  // The probe, built here: compiling inside the VM would be slow. The
  // VM sees this machine's files read-only, so the path works there too.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2vm-'));
  try {
    const probe = path.join(tmp, 'probe');
    execFileSync('gcc', ['-static', '-O2', '-o', probe, path.join(ROOT, 'test', 'fixtures', 'probe.c')], { stdio: 'inherit' });
    // The other end of --console-socket, for the criu checks' terminal.
    const recvtty = path.join(tmp, 'recvtty');
    execFileSync('gcc', ['-O2', '-o', recvtty, path.join(ROOT, 'test', 'fixtures', 'recvtty.c')], { stdio: 'inherit' });
    const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
    const noSystemd = systemdMissing();
    if (noSystemd) console.log(`v2 tests: the systemd part is SKIPPED: ${noSystemd} (apt-get install systemd dbus-daemon)`);
    // Both suites in the one boot; the status is nonzero if either fails.
    const cmd =
      `cd ${q(ROOT)} && export TSBOX_PROBE=${q(probe)} TSBOX_RECVTTY=${q(recvtty)} ${only ? `V2_ONLY=${q(only)} ` : ''}&& ` +
      `${q(process.execPath)} test/v2/checks.js /tsbox-vm-job/results.json; a=$?; ` +
      (noSystemd ? 'b=0; ' : `${q(process.execPath)} test/v2/systemd-checks.js /tsbox-vm-job/systemd-results.json; b=$?; `) +
      `${q(process.execPath)} test/v2/criu-checks.js /tsbox-vm-job/criu-results.json; c=$?; ` +
      '[ $a -eq 0 ] && [ $b -eq 0 ] && [ $c -eq 0 ]';
    const t0 = Date.now();
    const results = [];
    const status = await vm.runInVm(cmd, {
      cwd: ROOT,
      timeoutSec: Number(process.env.TSBOX_V2VM_TIMEOUT || 900),
      // For the io.max checks (guest /dev/vda).
      nullDisk: true,
      onLine: (line) => {
        const m = /V2RESULT (\{.*\})\s*$/.exec(line);
        if (m) {
          const r = JSON.parse(m[1]);
          results.push(r);
          console.log(`${r.ok ? 'ok' : 'not ok'} - ${r.suite ? `[${r.suite}] ` : ''}${r.name}${r.ms !== undefined ? ` (${r.ms} ms in the VM)` : ''}`);
          if (!r.ok) console.log(`  ${String(r.error).split('\n').join('\n  ')}`);
        } else if (/^(v2 checks|v2 systemd checks|v2 criu checks|TSBOX_VM|V2INFO|node:|Error)/.test(line)) {
          console.log(`vm: ${line}`);
        }
      },
    });
    const failed = results.filter((r) => !r.ok);
    for (const suite of ['systemd', 'criu']) {
      const of = results.filter((r) => r.suite === suite);
      if (of.length > 0) console.log(`v2 tests: of which ${suite}: ${of.filter((r) => r.ok).length} passed, ${of.filter((r) => !r.ok).length} failed`);
    }
    console.log(
      `v2 tests: ${results.length - failed.length} passed, ${failed.length} failed, in ${((Date.now() - t0) / 1000).toFixed(0)} s (VM exit status ${status})`,
    );
    if (results.length === 0) console.log('v2 tests: no results came back from the VM');
    return status === 0 && failed.length === 0 && results.length > 0 ? 0 : 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`v2 tests: ${err && err.message ? err.message : err}`);
    process.exit(1);
  },
);
