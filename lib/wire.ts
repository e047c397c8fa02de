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

/** Decodes the records of a buffer, one after another (a launch plan). */
function decodeRecords(buf: Buffer): string[][] {
  const read = (at: number) => (littleEndian ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const records: string[][] = [];
  let at = 0;
  while (at < buf.length) {
    const count = read(at);
    at += 4;
    const fields: string[] = [];
    for (let i = 0; i < count; i++) {
      const length = read(at);
      if (at + 4 + length > buf.length) throw new RangeError(`record field of ${length} bytes runs past the end of ${buf.length} bytes`);
      fields.push(buf.toString('utf8', at + 4, at + 4 + length));
      at += 4 + length;
    }
    records.push(fields);
  }
  return records;
}

/** Decodes a buffer holding exactly one record (a sync message). */
function decodeRecord(buf: Buffer): string[] {
  const records = decodeRecords(buf);
  if (records.length !== 1) throw new RangeError(`a message of ${buf.length} bytes holds ${records.length} records, not one`);
  return records[0]!;
}

export const wire = { encodeRecords, decodeRecords, decodeRecord };
