import { endianness } from 'node:os';

/**
 * The record encoding of native/wire.h, TypeScript side: a record is a list
 * of strings, written as u32 count, then u32 length + UTF-8 bytes each, in
 * host byte order (the helper runs on this machine).
 */
const littleEndian = endianness() === 'LE';

function encodeRecords(records: readonly (readonly string[])[]): Buffer {
  // One allocation, sized first: this runs on every container start.
  let size = 0;
  for (const record of records) {
    size += 4;
    for (const field of record) size += 4 + Buffer.byteLength(field, 'utf8');
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  const u32 = (n: number) => {
    at = littleEndian ? out.writeUInt32LE(n, at) : out.writeUInt32BE(n, at);
  };
  for (const record of records) {
    u32(record.length);
    for (const field of record) {
      const length = Buffer.byteLength(field, 'utf8');
      u32(length);
      at += out.write(field, at, length, 'utf8');
    }
  }
  return out;
}

/** Decodes a buffer holding exactly one record. */
function decodeRecord(buf: Buffer): string[] {
  const read = (at: number) => (littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const count = read(0);
  const fields: string[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    const length = read(at);
    fields.push(buf.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== buf.length) throw new RangeError(`record of ${buf.length} bytes has ${buf.length - at} bytes left over`);
  return fields;
}

export const wire = { encodeRecords, decodeRecord };
