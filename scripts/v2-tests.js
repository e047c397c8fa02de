'use strict';
// The pure cgroup v2 checks (test/v2/checks.js), then the systemd ones
// (test/v2/systemd-checks.js: a real systemd in namespaces of its own, and
// the tsbox systemd driver's checks it loads), in a throwaway VM whose
// cgroup2 root has every controller (../shared/tools/v2vm: this machine
// and CI's are hybrid hosts). One VM boots for all the checks; each prints
// a "V2RESULT {json}" line on the VM's console, read here.
//
//   node scripts/v2-tests.js [--only TEXT]
//
// Needs root, gcc (for the probe), dist/ and build/ built, and the VM set
// up once (sh ../shared/tools/v2vm/setup.sh). Skips, with a message and
// exit status 0, where the v2vm tools or their artifacts are absent; skips
// the systemd part, with a message, where systemd or dbus-daemon is not
// installed (the VM runs this machine's).

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { systemdMissing } = require('../test/v2/systemd');
const NULL_DISK = '-drive file=null-co://,format=raw,if=none,id=nb -device virtio-blk-device,drive=nb';

function v2vmDir() {
  for (const d of [path.resolve(ROOT, '..', 'shared', 'tools', 'v2vm'), '/work/shared/tools/v2vm']) {
    if (fs.existsSync(path.join(d, 'run.sh'))) return d;
  }
  return undefined;
}

function skip(why) {
  console.log(`v2 tests: SKIPPED: ${why}`);
  process.exit(0);
}

async function main() {
  const only = process.argv[2] === '--only' ? process.argv[3] : undefined;
  const tools = v2vmDir();
  if (!tools) skip('../shared/tools/v2vm is not there (the pure cgroup v2 VM tools)');
  const artifacts = process.env.V2VM_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'v2vm');
  if (!fs.existsSync(path.join(artifacts, 'vmlinux'))) skip(`the VM is not set up (${artifacts}/vmlinux missing): run sh ${tools}/setup.sh`);
  if (process.getuid() !== 0) skip('not root');
  for (const f of ['dist/index.js', 'build/Release/tsbox.node', 'build/Release/tsbox-helper']) {
    if (!fs.existsSync(path.join(ROOT, f))) throw new Error(`${f} is missing: build first (npm run build)`);
  }

  // The probe, built here: compiling inside the VM would be slow. The
  // VM sees this machine's files read-only, so the path works there too.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2vm-'));
  try {
    const probe = path.join(tmp, 'probe');
    execFileSync('gcc', ['-static', '-O2', '-o', probe, path.join(ROOT, 'test', 'fixtures', 'probe.c')], { stdio: 'inherit' });
    const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
    const noSystemd = systemdMissing();
    if (noSystemd) console.log(`v2 tests: the systemd part is SKIPPED: ${noSystemd} (apt-get install systemd dbus-daemon)`);
    // Both suites in the one boot; the status is nonzero if either fails.
    const cmd =
      `cd ${q(ROOT)} && export TSBOX_PROBE=${q(probe)} ${only ? `V2_ONLY=${q(only)} ` : ''}&& ` +
      `${q(process.execPath)} test/v2/checks.js /v2vm-job/results.json; a=$?; ` +
      (noSystemd ? 'b=0; ' : `${q(process.execPath)} test/v2/systemd-checks.js /v2vm-job/systemd-results.json; b=$?; `) +
      '[ $a -eq 0 ] && [ $b -eq 0 ]';
    const t0 = Date.now();
    const results = [];
    let console_ = '';
    const status = await new Promise((resolve) => {
      // A null disk (guest /dev/vda) for the io.max checks: reads return zeros, writes vanish.
      const env = { ...process.env, V2VM_TIMEOUT: process.env.V2VM_TIMEOUT || '900', V2VM_QEMU_EXTRA: process.env.V2VM_QEMU_EXTRA ?? NULL_DISK };
      const child = spawn(path.join(tools, 'run.sh'), [cmd], { stdio: ['ignore', 'pipe', 'pipe'], env });
      const onData = (d) => {
        console_ += d;
        let nl;
        while ((nl = console_.indexOf('\n')) >= 0) {
          const line = console_.slice(0, nl).replace(/\r$/, '');
          console_ = console_.slice(nl + 1);
          const m = /V2RESULT (\{.*\})\s*$/.exec(line);
          if (m) {
            const r = JSON.parse(m[1]);
            results.push(r);
            console.log(`${r.ok ? 'ok' : 'not ok'} - ${r.suite ? `[${r.suite}] ` : ''}${r.name}${r.ms !== undefined ? ` (${r.ms} ms in the VM)` : ''}`);
            if (!r.ok) console.log(`  ${String(r.error).split('\n').join('\n  ')}`);
          } else if (/^(v2 checks|v2 systemd checks|V2VM|V2INFO|node:|Error)/.test(line)) {
            console.log(`vm: ${line}`);
          }
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', (d) => process.stderr.write(d));
      child.on('close', (code) => resolve(code));
    });
    const failed = results.filter((r) => !r.ok);
    const sd = results.filter((r) => r.suite === 'systemd');
    if (sd.length > 0) console.log(`v2 tests: of which systemd: ${sd.filter((r) => r.ok).length} passed, ${sd.filter((r) => !r.ok).length} failed`);
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
