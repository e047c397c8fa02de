// CRIU's RPC messages, encoded and decoded by hand (lib/criu/rpc.ts): the
// bytes are pinned against protobuf's wire format (its documentation's
// examples: field 1 = 150 is 08 96 01, field 2 = "testing" is 12 07 ...)
// and the field numbers of CRIU's images/rpc.proto.

import { describe, expect, it } from 'vitest';
import { decodeResponse, encodeMessage, encodeNotifyAnswer, encodeOpts, encodeRequest } from '../../lib/criu/rpc.js';

const hex = (b: Buffer) => b.toString('hex');
const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');

describe('protobuf encoding', () => {
  it('varints, strings, bools, negative int32 (ten bytes), and leaves undefined fields out', () => {
    expect(hex(encodeMessage([[1, 150]]))).toBe('089601');
    expect(hex(encodeMessage([[2, 'testing']]))).toBe(`1207${ascii('testing')}`);
    expect(hex(encodeMessage([[3, true], [4, false], [5, undefined]]))).toBe('18012000');
    expect(hex(encodeMessage([[1, -1]]))).toBe('08ffffffffffffffffff01');
    // Field numbers past 15 take a two-byte key.
    expect(hex(encodeMessage([[65, true]]))).toBe('880401');
    expect(() => encodeMessage([[1, 1.5]])).toThrow('protobuf field 1: 1.5 is not an integer');
  });

  it('criu_opts: fields by rpc.proto\'s numbers, repeated messages (inherit_fd 27, ext_mnt 23) and strings (external 37) one element each', () => {
    expect(hex(encodeOpts({ imagesDirFd: 5, inheritFd: [{ key: 'pipe:[9]', fd: 4 }] }))).toBe(`0805 da01 0c 0a08${ascii('pipe:[9]')} 1004`.replace(/\s/g, ''));
    expect(hex(encodeOpts({ imagesDirFd: 3, extMnt: [{ key: '/a', val: '/b' }], external: ['x', 'y'] }))).toBe(
      `0803 ba01 08 0a02${ascii('/a')}1202${ascii('/b')} aa0201${ascii('x')} aa0201${ascii('y')}`.replace(/\s/g, ''),
    );
    // rst_sibling 26, orphan_pts_master 50, config_file 51, mntns_compat_mode 65, manage_cgroups_mode 34, empty_ns 38.
    expect(hex(encodeOpts({ imagesDirFd: 0, rstSibling: true, orphanPtsMaster: true, configFile: 'c', mntnsCompatMode: true, manageCgroupsMode: 3, emptyNs: 0x40000000 }))).toBe(
      `0800 d00101 900203 b002808080800 4 9003 01 9a0301${ascii('c')} 880401`.replace(/\s/g, ''),
    );
  });

  it('criu_opts: the page server (ps 11: address, port) and lazy_pages 48; cg_root 25 (ctrl left out for all hierarchies)', () => {
    expect(hex(encodeOpts({ imagesDirFd: 0, ps: { address: 'a', port: 1 }, lazyPages: true }))).toBe(`0800 5a05 0a01${ascii('a')}1001 800301`.replace(/\s/g, ''));
    expect(hex(encodeOpts({ imagesDirFd: 0, cgRoot: [{ path: '/c' }, { ctrl: 'm', path: '/d' }] }))).toBe(
      `0800 ca0104 1202${ascii('/c')} ca0107 0a01${ascii('m')}1202${ascii('/d')}`.replace(/\s/g, ''),
    );
  });

  it('criu_req: the type and the options as an embedded message; a notification\'s answer', () => {
    expect(hex(encodeRequest(2, { imagesDirFd: 3 }))).toBe('0802 1202 0803'.replace(/\s/g, ''));
    expect(hex(encodeNotifyAnswer(true))).toBe('08061801');
    expect(hex(encodeNotifyAnswer(false))).toBe('08061800');
  });
});

describe('criu_resp decoding', () => {
  it('a notification: its script and pid', () => {
    const notify = `0a10${ascii('setup-namespaces')}10d209`;
    expect(decodeResponse(bytes(`0806 1001 2a${(notify.length / 2).toString(16)} ${notify}`))).toEqual({ type: 6, success: true, notify: { script: 'setup-namespaces', pid: 1234 } });
    expect(decodeResponse(bytes(`0806 1001 2a13 0a11${ascii('orphan-pts-master')}`))).toEqual({ type: 6, success: true, notify: { script: 'orphan-pts-master' } });
  });

  it('a restore\'s result with the pid; a failure with cr_errno and cr_errmsg; unknown fields (fixed32, fixed64, bytes) are skipped', () => {
    expect(decodeResponse(bytes('0802 1001 2203 08d209'))).toEqual({ type: 2, success: true, restoredPid: 1234 });
    expect(decodeResponse(bytes(`0802 1000 3816 4a05${ascii('error')} 7d01020304 8101 0102030405060708 9a0100`))).toEqual({ type: 2, success: false, crErrno: 22, crErrmsg: 'error' });
  });

  it('a malformed message is an error, not a guess', () => {
    expect(() => decodeResponse(bytes('08'))).toThrow('protobuf: truncated varint');
    expect(() => decodeResponse(bytes('2a05 0a'))).toThrow('protobuf: field 5 runs past the end');
    expect(() => decodeResponse(bytes('0b'))).toThrow('protobuf: field 1 has wire type 3');
  });
});
