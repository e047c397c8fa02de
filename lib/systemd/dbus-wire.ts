/**
 * The D-Bus wire format (protocol version 1): type signatures, the
 * marshalling of values, and whole messages. Written little-endian; read in
 * either byte order, because a bus daemon forwards each message in its
 * sender's order.
 *
 * Values by signature: y n q i u h d -> number; x t -> bigint; b -> boolean;
 * s o g -> string; ay -> Buffer; other arrays -> JS arrays; a{kv} -> array of
 * [key, value] pairs; a struct -> array of its members; v -> Variant.
 */

export type DbusValue = number | bigint | boolean | string | Buffer | Variant | DbusValue[];

/** A `v` value: another value together with its own (single complete type) signature. */
export class Variant {
  constructor(
    readonly signature: string,
    readonly value: DbusValue,
  ) {}
}

export type MessageType = 'method_call' | 'method_return' | 'error' | 'signal';

export interface DbusMessage {
  type: MessageType;
  serial: number;
  replySerial?: number;
  path?: string;
  interface?: string;
  member?: string;
  errorName?: string;
  destination?: string;
  sender?: string;
  signature: string;
  body: DbusValue[];
  flags?: number;
}

/** Message header flags. */
export const Flags = {
  NO_REPLY_EXPECTED: 0x1,
  NO_AUTO_START: 0x2,
  ALLOW_INTERACTIVE_AUTHORIZATION: 0x4,
} as const;

export const MAX_MESSAGE_LENGTH = 128 * 1024 * 1024;
const MAX_ARRAY_LENGTH = 64 * 1024 * 1024;
const MAX_SIGNATURE_LENGTH = 255;
const MAX_NAME_LENGTH = 255;
// The spec caps array and struct nesting at 32 each, and the whole nesting
// of one value (variants included) at 64.
const MAX_CONTAINER_DEPTH = 32;
const MAX_TOTAL_DEPTH = 64;

/** A malformed signature, message, or a value that does not fit its signature. */
export class DbusWireError extends Error {
  override name = 'DbusWireError';
}

// ---------------------------------------------------------------- signatures

/** One complete type of a signature, parsed. */
interface TypeNode {
  code: string;
  /** This complete type's own signature text, e.g. `a{sv}`. */
  text: string;
  /** Array: [element]; struct: its members; dict entry: [key, value]. */
  children: TypeNode[];
}

const BASIC_CODES = 'ybnqiuxtdsogh';
const ALIGNMENT: Record<string, number> = {
  y: 1, b: 4, n: 2, q: 2, i: 4, u: 4, x: 8, t: 8, d: 8, s: 4, o: 4, g: 1, h: 4, a: 4, '(': 8, '{': 8, v: 1,
};

const parsedSignatures = new Map<string, TypeNode[]>();

function parseSignature(signature: string): TypeNode[] {
  const cached = parsedSignatures.get(signature);
  if (cached) return cached;
  const fail = (at: number, problem: string): never => {
    throw new DbusWireError(`bad D-Bus signature '${signature}': ${problem} at position ${at}`);
  };
  if (signature.length > MAX_SIGNATURE_LENGTH) fail(0, `longer than ${MAX_SIGNATURE_LENGTH} characters`);
  let pos = 0;
  const parseOne = (arrays: number, structs: number, inArray: boolean): TypeNode => {
    const start = pos;
    const code = signature[pos++];
    if (code === undefined) return fail(start, 'a complete type is missing');
    if (BASIC_CODES.includes(code) || code === 'v') return { code, text: code, children: [] };
    if (code === 'a') {
      if (arrays + 1 > MAX_CONTAINER_DEPTH) fail(start, `arrays nested deeper than ${MAX_CONTAINER_DEPTH}`);
      const element = parseOne(arrays + 1, structs, true);
      return { code, text: signature.slice(start, pos), children: [element] };
    }
    if (code === '(') {
      if (structs + 1 > MAX_CONTAINER_DEPTH) fail(start, `structs nested deeper than ${MAX_CONTAINER_DEPTH}`);
      const members: TypeNode[] = [];
      while (signature[pos] !== ')') {
        if (pos >= signature.length) fail(start, "'(' is never closed");
        members.push(parseOne(arrays, structs + 1, false));
      }
      if (members.length === 0) fail(start, 'a struct must have at least one member');
      pos++;
      return { code, text: signature.slice(start, pos), children: members };
    }
    if (code === '{') {
      if (!inArray) fail(start, 'a dict entry {..} may only be an array element');
      if (structs + 1 > MAX_CONTAINER_DEPTH) fail(start, `structs nested deeper than ${MAX_CONTAINER_DEPTH}`);
      if (pos >= signature.length) fail(start, "'{' is never closed");
      const key = parseOne(arrays, structs + 1, false);
      if (!BASIC_CODES.includes(key.code)) fail(start + 1, 'a dict entry key must be a basic type');
      if (pos >= signature.length || signature[pos] === '}') fail(start, 'a dict entry needs a key and a value');
      const value = parseOne(arrays, structs + 1, false);
      if (signature[pos] !== '}') fail(start, 'a dict entry must have exactly two types and a closing }');
      pos++;
      return { code, text: signature.slice(start, pos), children: [key, value] };
    }
    return fail(start, `unexpected '${code}'`);
  };
  const types: TypeNode[] = [];
  while (pos < signature.length) types.push(parseOne(0, 0, false));
  // Bounded: variant signatures come from peers, and only a few ever repeat.
  if (parsedSignatures.size >= 512) parsedSignatures.clear();
  parsedSignatures.set(signature, types);
  return types;
}

/** The complete types of a signature: `sa{sv}(ii)` -> [`s`, `a{sv}`, `(ii)`]. Throws on a bad signature. */
export function splitSignature(signature: string): string[] {
  return parseSignature(signature).map((t) => t.text);
}

function singleType(signature: string, what: string): TypeNode {
  const types = parseSignature(signature);
  if (types.length !== 1) {
    throw new DbusWireError(`${what} signature '${signature}' must be exactly one complete type, not ${types.length}`);
  }
  return types[0]!;
}

// -------------------------------------------------------------------- names

const ELEMENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BUS_NAME_ELEMENT = /^[A-Za-z_-][A-Za-z0-9_-]*$/;
const UNIQUE_NAME_ELEMENT = /^[A-Za-z0-9_-]+$/;

function isObjectPath(s: string): boolean {
  return s === '/' || /^(\/[A-Za-z0-9_]+)+$/.test(s);
}

function isDottedName(s: string, element: RegExp): boolean {
  const parts = s.split('.');
  return s.length <= MAX_NAME_LENGTH && parts.length >= 2 && parts.every((p) => element.test(p));
}

function isBusName(s: string): boolean {
  return s.startsWith(':') ? isDottedName(s.slice(1), UNIQUE_NAME_ELEMENT) : isDottedName(s, BUS_NAME_ELEMENT);
}

const NAME_CHECKS = {
  path: isObjectPath,
  interface: (s: string) => isDottedName(s, ELEMENT),
  member: (s: string) => s.length <= MAX_NAME_LENGTH && ELEMENT.test(s),
  errorName: (s: string) => isDottedName(s, ELEMENT),
  destination: isBusName,
  sender: isBusName,
};

// -------------------------------------------------------------- marshalling

class Writer {
  private buf = Buffer.allocUnsafe(256);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  u8(v: number): void {
    this.reserve(1);
    this.length = this.buf.writeUInt8(v, this.length);
  }
  u32At(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }
  fixed(code: string, v: number | bigint): void {
    this.pad(ALIGNMENT[code]!);
    this.reserve(8);
    const b = this.buf;
    const at = this.length;
    switch (code) {
      case 'y': this.length = b.writeUInt8(v as number, at); break;
      case 'n': this.length = b.writeInt16LE(v as number, at); break;
      case 'q': this.length = b.writeUInt16LE(v as number, at); break;
      case 'i': this.length = b.writeInt32LE(v as number, at); break;
      case 'b': case 'u': case 'h': this.length = b.writeUInt32LE(v as number, at); break;
      case 'x': this.length = b.writeBigInt64LE(BigInt(v), at); break;
      case 't': this.length = b.writeBigUInt64LE(BigInt(v), at); break;
      case 'd': this.length = b.writeDoubleLE(v as number, at); break;
    }
  }
  bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }
  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

const INTEGER_RANGES: Record<string, [number, number]> = {
  y: [0, 0xff], n: [-0x8000, 0x7fff], q: [0, 0xffff], i: [-0x80000000, 0x7fffffff], u: [0, 0xffffffff], h: [0, 0xffffffff],
};
const BIGINT_RANGES: Record<string, [bigint, bigint]> = {
  x: [-(2n ** 63n), 2n ** 63n - 1n], t: [0n, 2n ** 64n - 1n],
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Variant) return `a Variant '${v.signature}'`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === 'bigint') return `bigint ${v}n`;
  if (typeof v === 'object') return `an object (${v.constructor?.name ?? 'no prototype'})`;
  return `${typeof v} ${String(v)}`;
}

/** Where in a body a value is, for error messages: `[2][0][1]`. */
type Trail = (number | string)[];

function mismatch(whole: string, t: TypeNode, trail: Trail, problem: string): DbusWireError {
  const at = trail.map((p) => `[${p}]`).join('');
  return new DbusWireError(`value at ${at || 'top level'} does not match signature '${whole}' (type '${t.text}'): ${problem}`);
}

function writeValue(w: Writer, t: TypeNode, v: unknown, whole: string, trail: Trail, depth: number): void {
  const bad = (expected: string) => mismatch(whole, t, trail, `expected ${expected}, got ${describe(v)}`);
  if (depth > MAX_TOTAL_DEPTH) throw mismatch(whole, t, trail, `nested deeper than ${MAX_TOTAL_DEPTH}`);
  switch (t.code) {
    case 'y': case 'n': case 'q': case 'i': case 'u': case 'h': {
      const [lo, hi] = INTEGER_RANGES[t.code]!;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) throw bad(`an integer in ${lo}..${hi}`);
      w.fixed(t.code, v);
      return;
    }
    case 'x': case 't': {
      // Numbers are accepted too when they are exact, so callers need not
      // write 512n for every size; reading always gives a bigint.
      const [lo, hi] = BIGINT_RANGES[t.code]!;
      const ok = typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));
      if (!ok || BigInt(v as number | bigint) < lo || BigInt(v as number | bigint) > hi) {
        throw bad(`a bigint (or safe integer) in ${lo}..${hi}`);
      }
      w.fixed(t.code, v as number | bigint);
      return;
    }
    case 'd':
      if (typeof v !== 'number') throw bad('a number');
      w.fixed('d', v);
      return;
    case 'b':
      if (typeof v !== 'boolean') throw bad('a boolean');
      w.fixed('b', v ? 1 : 0);
      return;
    case 's': case 'o': case 'g': {
      if (typeof v !== 'string') throw bad('a string');
      if (v.includes('\0')) throw mismatch(whole, t, trail, 'strings may not contain NUL characters');
      if (t.code === 'o' && !isObjectPath(v)) throw mismatch(whole, t, trail, `${JSON.stringify(v)} is not a valid object path`);
      const bytes = Buffer.from(v, 'utf8');
      if (t.code === 'g') {
        try {
          parseSignature(v);
        } catch (e) {
          throw mismatch(whole, t, trail, (e as Error).message);
        }
        w.u8(bytes.length);
      } else {
        w.fixed('u', bytes.length);
      }
      w.bytes(bytes);
      w.u8(0);
      return;
    }
    case 'v': {
      if (!(v instanceof Variant)) throw bad('a Variant');
      let inner: TypeNode;
      try {
        inner = singleType(v.signature, 'variant');
      } catch (e) {
        throw mismatch(whole, t, trail, (e as Error).message);
      }
      w.u8(v.signature.length);
      w.bytes(Buffer.from(v.signature, 'latin1'));
      w.u8(0);
      writeValue(w, inner, v.value, whole, trail, depth + 1);
      return;
    }
    case '(': {
      if (!Array.isArray(v) || v.length !== t.children.length) throw bad(`an array of ${t.children.length} struct members`);
      w.pad(8);
      t.children.forEach((member, i) => {
        trail.push(i);
        writeValue(w, member, v[i], whole, trail, depth + 1);
        trail.pop();
      });
      return;
    }
    case '{': {
      if (!Array.isArray(v) || v.length !== 2) throw bad('a [key, value] pair');
      w.pad(8);
      trail.push(0);
      writeValue(w, t.children[0]!, v[0], whole, trail, depth + 1);
      trail[trail.length - 1] = 1;
      writeValue(w, t.children[1]!, v[1], whole, trail, depth + 1);
      trail.pop();
      return;
    }
    case 'a': {
      const element = t.children[0]!;
      const isBytes = element.code === 'y';
      if (isBytes && v instanceof Uint8Array) {
        if (v.length > MAX_ARRAY_LENGTH) throw mismatch(whole, t, trail, `array of ${v.length} bytes exceeds the 64 MiB limit`);
        w.fixed('u', v.length);
        w.bytes(v);
        return;
      }
      if (!Array.isArray(v)) throw bad(isBytes ? 'a Buffer or an array of numbers' : 'an array');
      w.fixed('u', 0);
      const lengthAt = w.length - 4;
      // The length counts from the first element, after its alignment
      // padding, which is there even when the array is empty.
      w.pad(ALIGNMENT[element.code]!);
      const start = w.length;
      v.forEach((item, i) => {
        trail.push(i);
        writeValue(w, element, item, whole, trail, depth + 1);
        trail.pop();
      });
      const length = w.length - start;
      if (length > MAX_ARRAY_LENGTH) throw mismatch(whole, t, trail, `array of ${length} bytes exceeds the 64 MiB limit`);
      w.u32At(lengthAt, length);
      return;
    }
  }
}

function writeAll(w: Writer, signature: string, values: readonly unknown[]): void {
  const types = parseSignature(signature);
  if (!Array.isArray(values) || values.length !== types.length) {
    throw new DbusWireError(
      `signature '${signature}' has ${types.length} complete types but ${Array.isArray(values) ? values.length : describe(values)} values were given`,
    );
  }
  types.forEach((t, i) => writeValue(w, t, values[i], signature, [i], 0));
}

/** Marshals a message body (which starts 8-aligned, so offsets here line up with the message's). */
export function marshal(signature: string, values: readonly DbusValue[]): Buffer {
  const w = new Writer();
  writeAll(w, signature, values);
  return w.result();
}

// ------------------------------------------------------------ unmarshalling

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
    public pos = 0,
  ) {}

  fail(problem: string): never {
    throw new DbusWireError(`malformed D-Bus data at byte ${this.pos}: ${problem}`);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) this.fail(`${what} runs past the end (${this.buf.length} bytes)`);
  }
  align(alignment: number): void {
    const n = (alignment - (this.pos % alignment)) % alignment;
    this.need(n, 'padding');
    for (let i = 0; i < n; i++) if (this.buf[this.pos + i] !== 0) this.fail('padding bytes are not zero');
    this.pos += n;
  }
  fixed(code: string): number | bigint {
    this.align(ALIGNMENT[code]!);
    const size = code === 'y' ? 1 : code === 'n' || code === 'q' ? 2 : code === 'x' || code === 't' || code === 'd' ? 8 : 4;
    this.need(size, `a '${code}' value`);
    const b = this.buf;
    const at = this.pos;
    this.pos += size;
    const le = this.le;
    switch (code) {
      case 'y': return b.readUInt8(at);
      case 'n': return le ? b.readInt16LE(at) : b.readInt16BE(at);
      case 'q': return le ? b.readUInt16LE(at) : b.readUInt16BE(at);
      case 'i': return le ? b.readInt32LE(at) : b.readInt32BE(at);
      case 'x': return le ? b.readBigInt64LE(at) : b.readBigInt64BE(at);
      case 't': return le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at);
      case 'd': return le ? b.readDoubleLE(at) : b.readDoubleBE(at);
      default: return le ? b.readUInt32LE(at) : b.readUInt32BE(at);
    }
  }
  /** A string's bytes (after its length) and the NUL that must end it, with no NUL inside. */
  text(length: number, what: string): string {
    this.need(length + 1, what);
    const end = this.pos + length;
    if (this.buf[end] !== 0) this.fail(`${what} is not NUL-terminated`);
    if (this.buf.indexOf(0, this.pos) !== end) this.fail(`${what} contains a NUL byte`);
    let s: string;
    try {
      s = utf8.decode(this.buf.subarray(this.pos, end));
    } catch {
      this.fail(`${what} is not valid UTF-8`);
    }
    this.pos = end + 1;
    return s;
  }
  signature(): string {
    const length = this.fixed('y') as number;
    const s = this.text(length, 'a signature');
    try {
      parseSignature(s);
    } catch (e) {
      this.fail((e as Error).message);
    }
    return s;
  }
}

function readValue(r: Reader, t: TypeNode, depth: number): DbusValue {
  if (depth > MAX_TOTAL_DEPTH) r.fail(`values nested deeper than ${MAX_TOTAL_DEPTH}`);
  switch (t.code) {
    case 'y': case 'n': case 'q': case 'i': case 'u': case 'h': case 'x': case 't': case 'd':
      return r.fixed(t.code);
    case 'b': {
      const n = r.fixed('b');
      if (n !== 0 && n !== 1) r.fail(`a boolean is ${n}, not 0 or 1`);
      return n === 1;
    }
    case 's': case 'o': {
      const s = r.text(r.fixed('u') as number, t.code === 's' ? 'a string' : 'an object path');
      if (t.code === 'o' && !isObjectPath(s)) r.fail(`${JSON.stringify(s)} is not a valid object path`);
      return s;
    }
    case 'g':
      return r.signature();
    case 'v': {
      const signature = r.signature();
      let inner: TypeNode;
      try {
        inner = singleType(signature, 'variant');
      } catch (e) {
        return r.fail((e as Error).message);
      }
      return new Variant(signature, readValue(r, inner, depth + 1));
    }
    case '(': case '{': {
      r.align(8);
      return t.children.map((member) => readValue(r, member, depth + 1));
    }
    case 'a': {
      const length = r.fixed('u') as number;
      if (length > MAX_ARRAY_LENGTH) r.fail(`an array of ${length} bytes exceeds the 64 MiB limit`);
      const element = t.children[0]!;
      r.align(ALIGNMENT[element.code]!);
      r.need(length, `an array of ${length} bytes`);
      const end = r.pos + length;
      if (element.code === 'y') {
        // A copy: the caller may keep it after the socket's buffer is reused.
        const bytes = Buffer.from(r.buf.subarray(r.pos, end));
        r.pos = end;
        return bytes;
      }
      const items: DbusValue[] = [];
      while (r.pos < end) items.push(readValue(r, element, depth + 1));
      if (r.pos !== end) r.fail(`an array's elements overrun its length of ${length} bytes`);
      return items;
    }
  }
  return r.fail(`unknown type '${t.code}'`);
}

/**
 * Unmarshals a message body: exactly the values `signature` describes, using
 * all of `data`. Offsets count from the start of `data`, which in a message
 * is 8-aligned.
 */
export function unmarshal(signature: string, data: Buffer, littleEndian = true): DbusValue[] {
  const r = new Reader(data, littleEndian);
  const values = parseSignature(signature).map((t) => readValue(r, t, 0));
  if (r.pos !== data.length) r.fail(`${data.length - r.pos} bytes left over after the values of '${signature}'`);
  return values;
}

// ----------------------------------------------------------------- messages

const TYPE_CODES: Record<MessageType, number> = { method_call: 1, method_return: 2, error: 3, signal: 4 };
const TYPE_NAMES: (MessageType | undefined)[] = [undefined, 'method_call', 'method_return', 'error', 'signal'];

/** Header field codes and the type each one's variant must hold. */
const FIELDS = [
  { code: 1, key: 'path', signature: 'o' },
  { code: 2, key: 'interface', signature: 's' },
  { code: 3, key: 'member', signature: 's' },
  { code: 4, key: 'errorName', signature: 's' },
  { code: 5, key: 'replySerial', signature: 'u' },
  { code: 6, key: 'destination', signature: 's' },
  { code: 7, key: 'sender', signature: 's' },
  { code: 8, key: 'signature', signature: 'g' },
] as const;
const UNIX_FDS_FIELD = 9;

const REQUIRED_FIELDS: Record<MessageType, (keyof DbusMessage)[]> = {
  method_call: ['path', 'member'],
  method_return: ['replySerial'],
  error: ['errorName', 'replySerial'],
  signal: ['path', 'interface', 'member'],
};

function checkMessage(m: DbusMessage, fail: (problem: string) => never): void {
  for (const key of REQUIRED_FIELDS[m.type]) {
    if (m[key] === undefined) fail(`a ${m.type} message needs a ${key}`);
  }
  for (const [key, valid] of Object.entries(NAME_CHECKS)) {
    const value = m[key as keyof typeof NAME_CHECKS];
    if (value !== undefined && (typeof value !== 'string' || !valid(value))) {
      fail(`${key} ${JSON.stringify(value)} is not a valid D-Bus ${key === 'path' ? 'object path' : 'name'}`);
    }
  }
  for (const key of ['serial', 'replySerial'] as const) {
    const n = m[key];
    if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 0xffffffff)) fail(`${key} ${n} is not in 1..2^32-1`);
  }
}

function describeMessage(m: Partial<DbusMessage>): string {
  const what = m.type === 'error' ? m.errorName : [m.interface, m.member].filter(Boolean).join('.');
  return `${m.type ?? 'message'} ${what ?? ''}`.trim();
}

/** The bytes of one message, little-endian. */
export function encodeMessage(msg: DbusMessage): Buffer {
  const fail = (problem: string): never => {
    throw new DbusWireError(`cannot encode D-Bus ${describeMessage(msg)}: ${problem}`);
  };
  const typeCode = TYPE_CODES[msg.type];
  if (typeCode === undefined) fail(`unknown message type ${JSON.stringify(msg.type)}`);
  checkMessage(msg, fail);
  const signature = msg.signature ?? '';
  const body = marshal(signature, msg.body ?? []);
  const fields: DbusValue[] = [];
  for (const f of FIELDS) {
    const value = f.key === 'signature' ? (signature === '' ? undefined : signature) : msg[f.key];
    if (value !== undefined) fields.push([f.code, new Variant(f.signature, value)]);
  }
  const w = new Writer();
  writeAll(w, 'yyyyuua(yv)', [0x6c /* 'l' */, typeCode, msg.flags ?? 0, 1, body.length, msg.serial, fields]);
  w.pad(8);
  w.bytes(body);
  if (w.length > MAX_MESSAGE_LENGTH) fail(`${w.length} bytes exceeds the 128 MiB message limit`);
  return w.result();
}

/** Fixed part of the header plus the header-field array's length. */
const PREAMBLE_LENGTH = 16;

/** A whole message's length from its first 16 bytes; throws when they cannot start a message. */
function messageLength(head: Buffer): number {
  const endian = head[0];
  if (endian !== 0x6c && endian !== 0x42) {
    throw new DbusWireError(`not a D-Bus message: endianness byte is 0x${endian?.toString(16)}, not 'l' or 'B'`);
  }
  if (head[3] !== 1) throw new DbusWireError(`unsupported D-Bus protocol version ${head[3]} (only 1 is known)`);
  const le = endian === 0x6c;
  const bodyLength = le ? head.readUInt32LE(4) : head.readUInt32BE(4);
  const fieldsLength = le ? head.readUInt32LE(12) : head.readUInt32BE(12);
  const headerLength = Math.ceil((PREAMBLE_LENGTH + fieldsLength) / 8) * 8;
  const total = headerLength + bodyLength;
  if (fieldsLength > MAX_ARRAY_LENGTH || total > MAX_MESSAGE_LENGTH) {
    throw new DbusWireError(`D-Bus message of ${total} bytes exceeds the 128 MiB limit`);
  }
  return total;
}

/** One whole message from exactly its bytes. */
export function decodeMessage(data: Buffer): DbusMessage {
  if (data.length < PREAMBLE_LENGTH) throw new DbusWireError(`a D-Bus message of ${data.length} bytes is shorter than its header`);
  const total = messageLength(data);
  if (total !== data.length) throw new DbusWireError(`D-Bus message header says ${total} bytes but ${data.length} were given`);
  const r: Reader = new Reader(data, data[0] === 0x6c);
  const [, typeCode, flags, , bodyLength, serial, fields] = parseSignature('yyyyuua(yv)').map((t) => readValue(r, t, 0)) as [
    number, number, number, number, number, number, [number, Variant][],
  ];
  const type = TYPE_NAMES[typeCode];
  if (type === undefined) r.fail(`unknown message type ${typeCode}`);
  const msg: DbusMessage = { type, serial, flags, signature: '', body: [] };
  for (const [code, variant] of fields) {
    const known = FIELDS.find((f) => f.code === code);
    if (code === UNIX_FDS_FIELD && variant.value !== 0) {
      r.fail('the message carries unix file descriptors, which this connection did not negotiate');
    }
    // Unknown fields are skipped, as the spec asks, so newer peers still work.
    if (!known) continue;
    if (variant.signature !== known.signature) {
      r.fail(`header field ${known.key} has type '${variant.signature}', not '${known.signature}'`);
    }
    (msg as unknown as Record<string, DbusValue>)[known.key] = variant.value;
  }
  checkMessage(msg, (problem) => r.fail(`bad header: ${problem}`));
  r.align(8);
  const bodyAt = r.pos;
  if (bodyAt + bodyLength !== data.length) r.fail('header length and body length do not add up');
  if (bodyLength > 0 && msg.signature === '') r.fail(`a ${bodyLength}-byte body has no signature`);
  try {
    msg.body = unmarshal(msg.signature, data.subarray(bodyAt), r.le);
  } catch (e) {
    throw new DbusWireError(`body of D-Bus ${describeMessage(msg)} (signature '${msg.signature}'): ${(e as Error).message}`, { cause: e });
  }
  return msg;
}

/**
 * Turns a byte stream into whole messages: push what the socket gave, get
 * back the messages it completed. After a throw the stream is out of step
 * and the connection must be dropped.
 */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): DbusMessage[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const messages: DbusMessage[] = [];
    while (this.buffered >= PREAMBLE_LENGTH) {
      const total = messageLength(this.peek(PREAMBLE_LENGTH));
      if (this.buffered < total) break;
      messages.push(decodeMessage(this.take(total)));
    }
    return messages;
  }

  /** Bytes received but not yet part of a whole message. */
  get pending(): number {
    return this.buffered;
  }

  private merge(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    return first.length >= n ? first : this.merge();
  }
  private take(n: number): Buffer {
    const all = this.peek(n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return all.subarray(0, n);
  }
}
