'use strict';
// A throwaway VM that is a pure cgroup v2 host, for the checks this
// project's machines cannot run (they are hybrid hosts: v1 controllers,
// cgroup2 with hugetlb only): QEMU boots Debian's kernel with
// cgroup_no_v1=all; the VM's root is this machine's / (read-only over 9p,
// with a tmpfs over it, so it runs this checkout, node and the installed
// programs as they are here); PID 1 mounts cgroup2 with every controller
// enabled and runs one shell command. Used by scripts/v2-tests.js.
//
//   node test/v2/vm.js setup      once per machine (root, Debian): installs
//                                 qemu-system-x86 and busybox-static, and
//                                 builds the kernel and initramfs (~1 min)
//   node test/v2/vm.js run 'CMD'  runs CMD in a VM; exits with its status
//
// Artifacts live in $TSBOX_V2VM_DIR (default ~/.cache/tsbox-v2vm). Facts
// that shape this (measured on the project's machines): /dev/kvm there is
// a paravirtual device a stock kernel cannot use, so QEMU emulates (TCG):
// a boot takes ~4 s, JavaScript runs ~14x and 9p file access ~26x slower
// than on the host, so boot one VM per suite, not per check. In the VM:
// writes outside the job directory (/tsbox-vm-job, a fresh host directory
// per run) are lost; only PATH and HOME are set; stdin is /dev/null; no
// network; no systemd (test/v2/systemd.js starts one itself).

const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const HERE = path.join(__dirname, 'vm');
/** Kernel modules the initramfs loads, in this order (modules in Debian's kernel). */
const MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_mmio',
  'virtio_blk', 'netfs', 'fscache', '9pnet', '9pnet_virtio', '9p', 'overlay',
  // What `criu check` needs (test/v2/criu-checks.js): the socket diag
  // modules it reads a process tree's sockets through (tcp_diag and
  // udp_diag need inet_diag), nf_tables (it probes nftables at start; needs
  // nfnetlink and libcrc32c, which wants crc32c_generic), tun and veth; and
  // for a container with a network namespace of its own (podman's), the
  // conntrack table's netlink, which a dump reads.
  'unix_diag', 'inet_diag', 'tcp_diag', 'udp_diag', 'netlink_diag', 'af_packet_diag',
  'nfnetlink', 'crc32c_generic', 'libcrc32c', 'nf_tables', 'tun', 'veth',
  'nf_defrag_ipv4', 'nf_defrag_ipv6', 'nf_conntrack', 'nf_conntrack_netlink',
];
/** A disk for io.max checks (guest /dev/vda, 254:0): reads give zeros, writes vanish. */
const NULL_DISK = ['-drive', 'file=null-co://,format=raw,if=none,id=nb', '-device', 'virtio-blk-device,drive=nb'];

function artifactsDir() {
  return process.env.TSBOX_V2VM_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'tsbox-v2vm');
}

/** Why the VM cannot run here, or undefined when it can. */
function missing() {
  const dir = artifactsDir();
  for (const f of ['vmlinux', 'initrd.gz']) {
    if (!fs.existsSync(path.join(dir, f))) return `the VM is not set up (${path.join(dir, f)} is missing): run node test/v2/vm.js setup`;
  }
  if (!fs.existsSync('/usr/bin/qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed: run node test/v2/vm.js setup';
  return undefined;
}

/** The uncompressed kernel from a bzImage: the xz stream inside it (an ELF boots ~3 s faster under TCG). */
function extractVmlinux(vmlinuz, out) {
  const image = fs.readFileSync(vmlinuz);
  const xzMagic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const at = image.indexOf(xzMagic);
  if (at < 0) throw new Error(`${vmlinuz}: no xz-compressed kernel inside`);
  // xz stops at the end of the first stream and complains about what
  // follows (the bzImage's trailer): its status is not the test.
  const r = require('node:child_process').spawnSync('xz', ['-dc', '--single-stream'], { input: image.subarray(at), maxBuffer: 512 << 20 });
  if (!r.stdout || r.stdout.length < 1 << 20 || r.stdout.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${vmlinuz}: xz did not give an ELF kernel`);
  fs.writeFileSync(out, r.stdout);
}

function setup() {
  if (process.getuid() !== 0) throw new Error('setup needs root (apt-get)');
  const dir = artifactsDir();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2vm-setup-'));
  const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });
  try {
    sh('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'qemu-system-x86', 'busybox-static', 'xz-utils', 'cpio'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    // Debian's current kernel package, unpacked (never installed).
    const pkg = /Depends: (linux-image-\S+)/.exec(sh('apt-cache', ['depends', 'linux-image-amd64']))?.[1];
    if (!pkg) throw new Error('apt-cache depends linux-image-amd64 names no kernel package');
    // Into our private temp dir: apt's _apt sandbox user could not write there.
    sh('apt-get', ['download', '-qq', '-o', 'APT::Sandbox::User=root', pkg], { cwd: tmp });
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    const unpacked = path.join(tmp, 'kernel');
    sh('dpkg-deb', ['-x', path.join(tmp, deb), unpacked]);
    const version = pkg.slice('linux-image-'.length);
    fs.mkdirSync(dir, { recursive: true });
    extractVmlinux(path.join(unpacked, 'boot', `vmlinuz-${version}`), path.join(dir, 'vmlinux.new'));

    // The initramfs: busybox, the modules, init and stage2.
    const initrd = path.join(tmp, 'initrd');
    for (const d of ['bin', 'mod', 'proc', 'sys', 'dev']) fs.mkdirSync(path.join(initrd, d), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(initrd, 'bin', 'busybox'));
    for (const applet of sh('/bin/busybox', ['--list']).split('\n')) {
      if (applet && applet !== 'busybox') fs.symlinkSync('busybox', path.join(initrd, 'bin', applet));
    }
    const moduleFiles = sh('find', [path.join(unpacked, 'lib', 'modules', version, 'kernel'), '-name', '*.ko']).split('\n');
    for (const m of MODULES) {
      const file = moduleFiles.find((f) => path.basename(f) === `${m}.ko`);
      if (!file) throw new Error(`kernel ${version} has no module ${m}.ko`);
      fs.copyFileSync(file, path.join(initrd, 'mod', `${m}.ko`));
    }
    fs.writeFileSync(path.join(initrd, 'modules'), MODULES.join('\n') + '\n');
    for (const f of ['init', 'stage2']) {
      fs.copyFileSync(path.join(HERE, f), path.join(initrd, f));
      fs.chmodSync(path.join(initrd, f), 0o755);
    }
    sh('sh', ['-c', `cd '${initrd}' && find . | cpio -o -H newc --quiet | gzip -1 > '${path.join(dir, 'initrd.gz.new')}'`]);
    fs.renameSync(path.join(dir, 'vmlinux.new'), path.join(dir, 'vmlinux'));
    fs.renameSync(path.join(dir, 'initrd.gz.new'), path.join(dir, 'initrd.gz'));
    console.log(`v2vm: kernel ${version} and initramfs in ${dir}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Boots a VM that runs `command` (sh) in `cwd`; resolves its exit status,
 * or 125 when none came back (the VM crashed or timed out). `onLine` gets
 * each line of the VM's console (the command's output, mixed with the
 * kernel's); `jobFiles(dir)`, where given, is called with the job directory
 * (the guest's /tsbox-vm-job) before it is removed.
 */
function runInVm(command, { cwd = process.cwd(), timeoutSec = 600, nullDisk = false, onLine = () => {}, jobFiles } = {}) {
  const why = missing();
  if (why) throw new Error(why);
  const dir = artifactsDir();
  const job = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-v2vm-job-'));
  fs.writeFileSync(path.join(job, 'command'), `${command}\n`);
  fs.writeFileSync(path.join(job, 'cwd'), cwd);
  // The microvm machine has no HPET or PM timer: when the guest's PIT
  // calibration of the TSC fails under TCG it hangs early (1 boot in 5
  // here), so it is told the host's TSC rate.
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
  const append = ['console=ttyS0', 'quiet', 'loglevel=3', 'panic=-1', 'cgroup_no_v1=all', ...(mhz ? [`tsc_early_khz=${Math.round(Number(mhz) * 1000)}`] : [])];
  const share = (id, dirPath, tag, readonly) => [
    '-fsdev', `local,id=${id},path=${dirPath},security_model=passthrough,multidevs=remap${readonly ? ',readonly=on' : ''}`,
    '-device', `virtio-9p-device,fsdev=${id},mount_tag=${tag}`,
  ];
  const args = [
    '-M', 'microvm', '-accel', 'tcg,thread=multi', '-cpu', 'max', '-m', '2G', '-smp', '2',
    '-nodefaults', '-no-user-config', '-display', 'none', '-serial', 'stdio', '-no-reboot',
    '-bios', '/usr/share/qemu/qboot.rom', '-kernel', path.join(dir, 'vmlinux'), '-initrd', path.join(dir, 'initrd.gz'),
    '-append', append.join(' '),
    ...share('host', '/', 'host', true),
    ...share('job', job, 'job', false),
    ...(nullDisk ? NULL_DISK : []),
  ];
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => qemu.kill('SIGKILL'), timeoutSec * 1000);
    let pending = '';
    const onData = (d) => {
      pending += d;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        onLine(pending.slice(0, nl).replace(/\r$/, ''));
        pending = pending.slice(nl + 1);
      }
    };
    qemu.stdout.on('data', onData);
    qemu.stderr.on('data', (d) => process.stderr.write(d));
    qemu.on('error', reject);
    qemu.on('close', () => {
      clearTimeout(timer);
      if (pending) onLine(pending);
      try {
        if (jobFiles) jobFiles(job);
        const status = Number.parseInt(fs.readFileSync(path.join(job, 'status'), 'utf8'), 10);
        resolve(Number.isInteger(status) ? status : 125);
      } catch {
        resolve(125);
      } finally {
        fs.rmSync(job, { recursive: true, force: true });
      }
    });
  });
}

module.exports = { missing, runInVm, setup };

if (require.main === module) {
  const [what, command] = process.argv.slice(2);
  if (what === 'setup') {
    setup();
  } else if (what === 'run' && command) {
    runInVm(command, { onLine: (l) => console.log(l) }).then((status) => process.exit(status), (err) => {
      console.error(`v2vm: ${err.message}`);
      process.exit(125);
    });
  } else {
    console.error("usage: node test/v2/vm.js setup | run 'COMMAND'");
    process.exit(2);
  }
}
