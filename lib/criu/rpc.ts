/**
 * The few messages of CRIU's RPC (`criu swrk`: images/rpc.proto, proto2)
 * tsbox speaks, encoded and decoded by hand: a request (criu_req with its
 * criu_opts) and CRIU's answers (criu_resp: the result, or a notification
 * to answer). Only the fields tsbox uses are known; others are skipped
 * when decoding, as protobuf readers do.
 *
 * Protobuf's wire format, as far as needed here: a message is a list of
 * (key, value) where key = field number << 3 | wire type; wire type 0 is
 * a varint (ints, bools, enums; a negative int32 is sign-extended to ten
 * bytes), 2 is length-delimited (strings, bytes, embedded messages, each
 * element of a repeated one); 1 and 5 (fixed 64 and 32 bits) are only
 * skipped.
 */

/** criu_req_type (rpc.proto). */
export const CriuReqType = { EMPTY: 0, DUMP: 1, RESTORE: 2, CHECK: 3, PRE_DUMP: 4, NOTIFY: 6 } as const;

/** criu_cg_mode (rpc.proto): how CRIU treats the cgroups of the tree. */
export const CriuCgMode = { ignore: 0, none: 1, props: 2, soft: 3, full: 4, strict: 5 } as const;

/** The fields of criu_opts tsbox sets (their numbers are rpc.proto's). */
export interface CriuOpts {
  /** A descriptor of the image directory in the requesting process (CRIU opens /proc/PEER/fd/N). */
  imagesDirFd: number;
  pid?: number;
  leaveRunning?: boolean;
  extUnixSk?: boolean;
  tcpEstablished?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  logLevel?: number;
  /** A file name in the work directory (no slash). */
  logFile?: string;
  /** Send every action as a notification to answer (setup-namespaces, orphan-pts-master, ...). */
  notifyScripts?: boolean;
  root?: string;
  parentImg?: string;
  trackMem?: boolean;
  autoDedup?: boolean;
  /** Like imagesDirFd, for the work directory (the log's). */
  workDirFd?: number;
  /** Bind mounts bound again from a new source: key (as dumped) to source. */
  extMnt?: { key: string; val: string }[];
  /** Where the restored tree goes in each cgroup hierarchy (ctrl absent: all of them). */
  cgRoot?: { ctrl?: string; path: string }[];
  /** The restored tree as a sibling of criu (a child of criu's parent). */
  rstSibling?: boolean;
  /** Descriptors of criu's own that take the place of a dumped resource (key). */
  inheritFd?: { key: string; fd: number }[];
  manageCgroupsMode?: number;
  /** Resources to dump as external (criu --external). */
  external?: string[];
  /** CLONE_NEW* flags of namespaces CRIU restores empty (only the network's). */
  emptyNs?: number;
  /** Namespaces the restored tree joins: ns (net, ipc, uts, ...), ns_file (a path). */
  joinNs?: { ns: string; nsFile: string }[];
  freezeCgroup?: string;
  /** Lazy migration: the dump serves the memory (ps) until a lazy-pages daemon has taken it; the restore takes it from that daemon. */
  lazyPages?: boolean;
  /** The page server: where a dump serves its memory (lazy) or sends it (criu page-server). */
  ps?: { address: string; port: number };
  /** At restore, a slave pty whose master was not dumped gets a new master, sent as the orphan-pts-master notification's descriptor. */
  orphanPtsMaster?: boolean;
  /** A CRIU configuration file whose settings override the request's (paths in it are resolved in criu's mount namespace). */
  configFile?: string;
  mntnsCompatMode?: boolean;
}

type Scalar = boolean | number | string | Uint8Array;
/** A field of a message: its number and value (a Uint8Array is an embedded message). */
type Field = readonly [number: number, value: Scalar | undefined];

function varint(n: bigint, out: number[]): void {
  // A negative value goes as its 64-bit two's complement (ten bytes).
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** A message from its fields, in order; undefined values are left out. */
export function encodeMessage(fields: readonly Field[]): Buffer {
  const out: number[] = [];
  for (const [num, value] of fields) {
    if (value === undefined) continue;
    if (typeof value === 'boolean' || typeof value === 'number') {
      if (typeof value === 'number' && !Number.isInteger(value)) throw new TypeError(`protobuf field ${num}: ${value} is not an integer`);
      varint(BigInt(num << 3), out);
      varint(BigInt(value === true ? 1 : value === false ? 0 : value), out);
      continue;
    }
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    varint(BigInt((num << 3) | 2), out);
    varint(BigInt(bytes.length), out);
    for (const b of bytes) out.push(b);
  }
  return Buffer.from(out);
}

/** criu_opts, encoded. */
export function encodeOpts(o: CriuOpts): Buffer {
  const each = <T>(num: number, list: readonly T[] | undefined, f: (x: T) => Scalar): Field[] => (list ?? []).map((x) => [num, f(x)] as const);
  return encodeMessage([
    [1, o.imagesDirFd],
    [2, o.pid],
    [3, o.leaveRunning],
    [4, o.extUnixSk],
    [5, o.tcpEstablished],
    [7, o.shellJob],
    [8, o.fileLocks],
    [9, o.logLevel],
    [10, o.logFile],
    [11, o.ps && encodeMessage([[1, o.ps.address], [2, o.ps.port]])],
    [12, o.notifyScripts],
    [13, o.root],
    [14, o.parentImg],
    [15, o.trackMem],
    [16, o.autoDedup],
    [17, o.workDirFd],
    ...each(23, o.extMnt, (m) => encodeMessage([[1, m.key], [2, m.val]])),
    ...each(25, o.cgRoot, (r) => encodeMessage([[1, r.ctrl], [2, r.path]])),
    [26, o.rstSibling],
    ...each(27, o.inheritFd, (f) => encodeMessage([[1, f.key], [2, f.fd]])),
    [34, o.manageCgroupsMode],
    ...each(37, o.external, (e) => e),
    [38, o.emptyNs],
    ...each(39, o.joinNs, (j) => encodeMessage([[1, j.ns], [2, j.nsFile]])),
    [44, o.freezeCgroup],
    [48, o.lazyPages],
    [50, o.orphanPtsMaster],
    [51, o.configFile],
    [65, o.mntnsCompatMode],
  ]);
}

/** criu_req: a request with its options. */
export function encodeRequest(type: number, opts: CriuOpts): Buffer {
  return encodeMessage([[1, type], [2, encodeOpts(opts)]]);
}

/** criu_req answering a notification: success or failure of what it asked for. */
export function encodeNotifyAnswer(success: boolean): Buffer {
  return encodeMessage([[1, CriuReqType.NOTIFY], [3, success]]);
}

/** What tsbox reads of criu_resp. */
export interface CriuResponse {
  type: number;
  success: boolean;
  /** criu_restore_resp.pid: the restored tree's root (host pid). */
  restoredPid?: number;
  /** criu_notify: the action (setup-namespaces, orphan-pts-master, ...) and, for some, the root's pid. */
  notify?: { script: string; pid?: number };
  crErrno?: number;
  crErrmsg?: string;
}

type Value = { wire: 0; n: bigint } | { wire: 2; bytes: Buffer };

/** The fields of a message, in order (fixed-size ones skipped); throws on a malformed one. */
export function decodeFields(buf: Buffer): [number, Value][] {
  const fields: [number, Value][] = [];
  let at = 0;
  const readVarint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (at >= buf.length) throw new Error('protobuf: truncated varint');
      const b = buf[at++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return v;
    }
    throw new Error('protobuf: varint too long');
  };
  while (at < buf.length) {
    const key = Number(readVarint());
    const num = key >>> 3;
    const wire = key & 7;
    if (wire === 0) fields.push([num, { wire, n: readVarint() }]);
    else if (wire === 2) {
      const len = Number(readVarint());
      if (at + len > buf.length) throw new Error(`protobuf: field ${num} runs past the end`);
      fields.push([num, { wire, bytes: buf.subarray(at, at + len) }]);
      at += len;
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
      if (at > buf.length) throw new Error(`protobuf: field ${num} runs past the end`);
    } else throw new Error(`protobuf: field ${num} has wire type ${wire}`);
  }
  return fields;
}

const int32 = (v: Value): number => (v.wire === 0 ? Number(BigInt.asIntN(32, v.n)) : NaN);
const text = (v: Value): string => (v.wire === 2 ? v.bytes.toString('utf8') : '');
const sub = (v: Value): [number, Value][] => (v.wire === 2 ? decodeFields(v.bytes) : []);

/** criu_resp, decoded. */
export function decodeResponse(buf: Buffer): CriuResponse {
  const r: CriuResponse = { type: -1, success: false };
  for (const [num, v] of decodeFields(buf)) {
    if (num === 1) r.type = int32(v);
    else if (num === 2) r.success = int32(v) !== 0;
    else if (num === 4) {
      for (const [n, f] of sub(v)) if (n === 1) r.restoredPid = int32(f);
    } else if (num === 5) {
      const notify: { script: string; pid?: number } = { script: '' };
      for (const [n, f] of sub(v)) {
        if (n === 1) notify.script = text(f);
        else if (n === 2) notify.pid = int32(f);
      }
      r.notify = notify;
    } else if (num === 7) r.crErrno = int32(v);
    else if (num === 9) r.crErrmsg = text(v);
  }
  return r;
}
