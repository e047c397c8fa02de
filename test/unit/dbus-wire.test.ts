import { describe, expect, it } from 'vitest';
import {
  decodeMessage,
  encodeMessage,
  marshal,
  MessageReader,
  splitSignature,
  unmarshal,
  Variant,
  type DbusMessage,
  type DbusValue,
} from '../../lib/systemd/dbus-wire.js';

/** Hex of bytes written with spaces for reading; the spaces are dropped. */
const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'ascii').toString('hex');

function roundTrip(signature: string, values: DbusValue[]): DbusValue[] {
  return unmarshal(signature, marshal(signature, values));
}

describe('signatures', () => {
  it('splits into complete types', () => {
    expect(splitSignature('')).toEqual([]);
    expect(splitSignature('sa{sv}(ii)aay')).toEqual(['s', 'a{sv}', '(ii)', 'aay']);
    expect(splitSignature('ssa(sv)a(sa(sv))')).toEqual(['s', 's', 'a(sv)', 'a(sa(sv))']);
  });

  it.each([
    ['a', /a complete type is missing/],
    ['(s', /never closed/],
    ['()', /at least one member/],
    ['{sv}', /only be an array element/],
    ['a{vs}', /key must be a basic type/],
    ['a{s}', /a key and a value/],
    ['a{sss}', /exactly two types/],
    ['z', /unexpected 'z'/],
    ['s)', /unexpected '\)'/],
    ['a'.repeat(33) + 'y', /arrays nested deeper than 32/],
    ['('.repeat(33) + 'y' + ')'.repeat(33), /structs nested deeper than 32/],
    ['y'.repeat(256), /longer than 255/],
  ])('rejects %s', (signature, problem) => {
    expect(() => splitSignature(signature)).toThrow(problem);
    expect(() => splitSignature(signature)).toThrow(`bad D-Bus signature '${signature}'`);
  });
});

describe('marshalling round trips', () => {
  it('every basic type, at its limits', () => {
    const sig = 'ybnqiuxtdsog';
    const values: DbusValue[] = [
      255, true, -32768, 65535, -2147483648, 4294967295,
      -(2n ** 63n), 2n ** 64n - 1n, -1.5e300, 'héllo ✓', '/org/freedesktop/systemd1', 'a{sv}',
    ];
    expect(roundTrip(sig, values)).toEqual(values);
    expect(roundTrip('bd', [false, Infinity])).toEqual([false, Infinity]);
    expect(roundTrip('s', [''])).toEqual(['']);
    expect(roundTrip('o', ['/'])).toEqual(['/']);
  });

  it('x and t accept exact numbers and read back as bigints', () => {
    expect(roundTrip('xt', [-5, Number.MAX_SAFE_INTEGER])).toEqual([-5n, BigInt(Number.MAX_SAFE_INTEGER)]);
  });

  it('ay is a Buffer both ways, and number[] is accepted', () => {
    expect(roundTrip('ay', [Buffer.from([1, 2, 3])])).toEqual([Buffer.from([1, 2, 3])]);
    const [out] = roundTrip('ay', [[0, 255, 7]]);
    expect(Buffer.isBuffer(out)).toBe(true);
    expect(out).toEqual(Buffer.from([0, 255, 7]));
    expect(roundTrip('ay', [Buffer.alloc(0)])).toEqual([Buffer.alloc(0)]);
  });

  it('nested arrays, structs, dicts and variants', () => {
    const properties: DbusValue = [
      ['Description', new Variant('s', 'tsbox container abc')],
      ['PIDs', new Variant('au', [1234, 5678])],
      ['MemoryMax', new Variant('t', 512n * 1024n * 1024n)],
      ['Delegate', new Variant('b', true)],
      ['DeviceAllow', new Variant('a(ss)', [['/dev/null', 'rwm'], ['char-pts', 'rw']])],
    ];
    expect(roundTrip('a(sv)', [properties])).toEqual([properties]);

    const aux: DbusValue = [
      ['one.scope', [['Slice', new Variant('s', 'x.slice')]]],
      ['two.scope', []],
    ];
    expect(roundTrip('a(sa(sv))', [aux])).toEqual([aux]);

    const dict: DbusValue = [['a', new Variant('i', -1)], ['b', new Variant('as', ['x', 'y'])]];
    expect(roundTrip('a{sv}', [dict])).toEqual([dict]);
    expect(roundTrip('a{uay}', [[[7, Buffer.from('hi')]]])).toEqual([[[7, Buffer.from('hi')]]]);

    const structInVariant = new Variant('(tsa(ii))', [9n, 's', [[1, 2], [3, 4]]]);
    expect(roundTrip('v', [structInVariant])).toEqual([structInVariant]);
    const variantInVariant = new Variant('v', new Variant('ay', Buffer.from([9])));
    expect(roundTrip('yv', [1, variantInVariant])).toEqual([1, variantInVariant]);
  });

  it('empty arrays, including ones whose elements are 8-aligned', () => {
    for (const sig of ['at', 'a(t)', 'a{sv}', 'aay', 'ad', 'as']) {
      expect(roundTrip(`y${sig}y`, [1, [], 2])).toEqual([1, sig === 'ay' ? Buffer.alloc(0) : [], 2]);
    }
  });
});

describe('byte-exact encodings (worked out from the spec)', () => {
  it('Hello method call', () => {
    const hello = encodeMessage({
      type: 'method_call', serial: 1, path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus',
      member: 'Hello', destination: 'org.freedesktop.DBus', signature: '', body: [],
    });
    const expected = hex(`
      6c 01 00 01   00000000   01000000   6d000000
      01 01 6f 00   15000000 ${ascii('/org/freedesktop/DBus')} 00   0000
      02 01 73 00   14000000 ${ascii('org.freedesktop.DBus')} 00    000000
      03 01 73 00   05000000 ${ascii('Hello')} 00                   0000
      06 01 73 00   14000000 ${ascii('org.freedesktop.DBus')} 00    000000
    `);
    // Fields start at 16; the array ends at 125 (length 109 = 0x6d); the
    // header is padded to 128 and there is no body.
    expect(hello.toString('hex')).toBe(expected.toString('hex'));
    expect(hello.length).toBe(128);
    expect(decodeMessage(hello)).toEqual({
      type: 'method_call', serial: 1, flags: 0, path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus',
      member: 'Hello', destination: 'org.freedesktop.DBus', signature: '', body: [],
    });
  });

  it('a byte then a dict of one variant', () => {
    // y at 0, pad to 4, array length at 4, pad to 8 for the dict entry,
    // string "a" at 8..13, variant signature "u" at 14..16, pad, u32 at 20.
    const bytes = marshal('ya{sv}', [7, [['a', new Variant('u', 1)]]]);
    expect(bytes.toString('hex')).toBe(hex('07 000000  10000000  01000000 61 00  01 75 00  000000  01000000').toString('hex'));
  });

  it('an empty array of 8-aligned elements keeps the padding to its first element', () => {
    // Length 0 at 0..3, then 4 bytes of padding to where element 0 would be.
    expect(marshal('a(t)y', [[], 5]).toString('hex')).toBe('00000000' + '00000000' + '05');
    expect(marshal('yat', [1, [2n]]).toString('hex')).toBe('01000000' + '08000000' + '0200000000000000');
  });

  it('decodes a big-endian method return', () => {
    const be = hex(`
      42 02 00 01   00000004   00000007   0000000f
      05 01 75 00   00000003
      08 01 67 00   01 75 00   00
      0000002a
    `);
    expect(decodeMessage(be)).toEqual({
      type: 'method_return', serial: 7, flags: 0, replySerial: 3, signature: 'u', body: [42],
    });
  });
});

describe('MessageReader', () => {
  const signal: DbusMessage = {
    type: 'signal', serial: 5, path: '/org/freedesktop/systemd1', interface: 'org.freedesktop.systemd1.Manager',
    member: 'JobRemoved', sender: ':1.0', signature: 'uoss', body: [12, '/org/freedesktop/systemd1/job/12', 'x.scope', 'done'], flags: 0,
  };
  const reply: DbusMessage = {
    type: 'method_return', serial: 6, replySerial: 2, destination: ':1.7', signature: 'a(sv)',
    body: [[['Id', new Variant('t', 1n)]]], flags: 0,
  };

  it('assembles a message split into single bytes', () => {
    const bytes = encodeMessage(signal);
    const reader = new MessageReader();
    const got: DbusMessage[] = [];
    for (let i = 0; i < bytes.length; i++) got.push(...reader.push(bytes.subarray(i, i + 1)));
    expect(got).toEqual([signal]);
    expect(reader.pending).toBe(0);
  });

  it('yields two messages from one chunk and keeps a partial third', () => {
    const third = encodeMessage({ ...signal, serial: 7 });
    const reader = new MessageReader();
    const chunk = Buffer.concat([encodeMessage(signal), encodeMessage(reply), third.subarray(0, 20)]);
    expect(reader.push(chunk)).toEqual([signal, reply]);
    expect(reader.pending).toBe(20);
    expect(reader.push(third.subarray(20))).toEqual([{ ...signal, serial: 7 }]);
  });

  it('refuses a message longer than 128 MiB from its header alone', () => {
    const head = Buffer.from(encodeMessage(signal).subarray(0, 16));
    head.writeUInt32LE(129 * 1024 * 1024, 4);
    expect(() => new MessageReader().push(head)).toThrow(/exceeds the 128 MiB limit/);
  });

  it('refuses what is not a D-Bus message', () => {
    expect(() => new MessageReader().push(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'))).toThrow(/endianness byte is 0x48/);
    const v2 = Buffer.from(encodeMessage(signal));
    v2[3] = 2;
    expect(() => new MessageReader().push(v2)).toThrow(/protocol version 2/);
  });
});

describe('bad input', () => {
  it.each<[string, DbusValue[], RegExp]>([
    ['s', [5], /value at \[0\] does not match signature 's' \(type 's'\): expected a string, got number 5/],
    ['a(sv)', [[['x', new Variant('s', 1)]]], /value at \[0\]\[0\]\[1\] does not match signature 'a\(sv\)' \(type 's'\)/],
    ['a{sv}', [[['k']]], /value at \[0\]\[0\] .* expected a \[key, value\] pair/],
    ['y', [256], /expected an integer in 0\.\.255, got number 256/],
    ['u', [-1], /expected an integer in 0\.\.4294967295/],
    ['i', [1.5], /expected an integer/],
    ['t', [-1n], /expected a bigint \(or safe integer\)/],
    ['x', [2 ** 60], /expected a bigint \(or safe integer\)/],
    ['b', [1], /expected a boolean, got number 1/],
    ['o', ['relative/path'], /"relative\/path" is not a valid object path/],
    ['o', ['/trailing/'], /not a valid object path/],
    ['s', ['a\0b'], /NUL/],
    ['g', ['a{'], /bad D-Bus signature 'a\{'/],
    ['v', ['plain'], /expected a Variant, got string "plain"/],
    ['v', [new Variant('ss', 'x')], /variant signature 'ss' must be exactly one complete type/],
    ['(ss)', [['only one']], /expected an array of 2 struct members/],
    ['ay', ['text'], /expected a Buffer or an array of numbers/],
    ['ay', [[1, 300]], /value at \[0\]\[1\] .* 0\.\.255/],
    ['ss', ['one'] as DbusValue[], /signature 'ss' has 2 complete types but 1 values were given/],
  ])('marshal %s (case %#)', (signature, values, problem) => {
    expect(() => marshal(signature, values)).toThrow(problem);
  });

  it.each<[string, string, string, RegExp]>([
    ['boolean 2', 'b', '02000000', /a boolean is 2/],
    ['non-zero padding', 'yu', '01 ff0000 01000000', /padding bytes are not zero/],
    ['left-over bytes', 'y', '01 02', /1 bytes left over/],
    ['string without NUL', 's', '01000000 61 62', /not NUL-terminated/],
    ['string with NUL inside', 's', '03000000 61 00 62 00', /contains a NUL byte/],
    ['invalid UTF-8', 's', '02000000 c3 28 00', /not valid UTF-8/],
    ['truncated u32', 'u', '0100', /runs past the end/],
    ['array longer than the data', 'au', '08000000 01000000', /runs past the end/],
    ['array element past its length', 'a(yy)', '01000000 00000000 01 02', /overrun its length/],
    ['bad variant signature', 'v', '02 73 73 00', /variant signature 'ss'/],
    ['bad object path', 'o', '01000000 78 00', /"x" is not a valid object path/],
  ])('unmarshal rejects %s', (_what, signature, bytes, problem) => {
    expect(() => unmarshal(signature, hex(bytes))).toThrow(problem);
  });

  it('encodeMessage checks header fields', () => {
    const call: DbusMessage = { type: 'method_call', serial: 1, path: '/a', member: 'M', signature: '', body: [] };
    expect(() => encodeMessage({ ...call, path: undefined })).toThrow(/a method_call message needs a path/);
    expect(() => encodeMessage({ ...call, member: 'Has.Dot' })).toThrow(/member "Has.Dot" is not a valid D-Bus name/);
    expect(() => encodeMessage({ ...call, interface: 'nodots' })).toThrow(/interface "nodots" is not a valid/);
    expect(() => encodeMessage({ ...call, destination: 'org..x' })).toThrow(/destination "org..x"/);
    expect(() => encodeMessage({ ...call, serial: 0 })).toThrow(/serial 0 is not in 1\.\.2\^32-1/);
    expect(() => encodeMessage({ ...call, signature: 's', body: [1] })).toThrow(/value at \[0\] does not match signature 's'/);
    expect(() => encodeMessage({ type: 'error', serial: 2, replySerial: 1, signature: '', body: [] })).toThrow(/needs a errorName/);
  });

  it('decodeMessage checks the header and names the message when its body is bad', () => {
    const good = encodeMessage({ type: 'signal', serial: 3, path: '/a', interface: 'a.b', member: 'C', signature: 'b', body: [true] });
    const badBody = Buffer.from(good);
    badBody[badBody.length - 4] = 7;
    expect(() => decodeMessage(badBody)).toThrow(/body of D-Bus signal a\.b\.C \(signature 'b'\): .*a boolean is 7/);
    const badType = Buffer.from(good);
    badType[1] = 9;
    expect(() => decodeMessage(badType)).toThrow(/unknown message type 9/);
    expect(() => decodeMessage(good.subarray(0, good.length - 1))).toThrow(/header says \d+ bytes but \d+ were given/);
  });
});
