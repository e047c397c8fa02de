// The addon's unix stream client (connectStream, readStream), which
// `tsbox start` uses to reach the init's start socket: everything the peer
// writes arrives, in order, however it is split, then the end of stream;
// a socket nobody listens on is refused with the errno's code.

import * as fs from 'node:fs';
import { createServer, type Server } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native/binding.js';

async function readAll(sock: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (;;) {
    const chunk = await native().readStream(sock);
    if (chunk === null) return Buffer.concat(chunks);
    if (chunk !== 'again') chunks.push(chunk);
  }
}

describe('connectStream and readStream', () => {
  let dir: string;
  let server: Server | undefined;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-stream-'));
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function listen(onConnection: (conn: import('node:net').Socket) => void): Promise<string> {
    const socket = path.join(dir, 'sock');
    server = createServer(onConnection);
    return new Promise((resolve, reject) => server!.once('error', reject).listen(socket, () => resolve(socket)));
  }

  it('reads what the peer wrote, in several writes and more than one read, then the end', async () => {
    const payload = Buffer.from(Array.from({ length: 20_000 }, (_, i) => i % 251));
    const socket = await listen((conn) => {
      conn.write(payload.subarray(0, 7));
      setTimeout(() => conn.end(payload.subarray(7)), 20);
    });
    const sock = native().connectStream(socket);
    try {
      expect((await readAll(sock)).equals(payload)).toBe(true);
    } finally {
      native().close(sock);
    }
  });

  it('reads nothing but the end when the peer closes at once', async () => {
    const socket = await listen((conn) => conn.end());
    const sock = native().connectStream(socket);
    try {
      expect(await readAll(sock)).toEqual(Buffer.alloc(0));
    } finally {
      native().close(sock);
    }
  });

  it('is refused with ECONNREFUSED where nobody listens any more, ENOENT where there is no socket', async () => {
    const socket = await listen(() => undefined);
    await new Promise<void>((resolve) => server!.close(() => resolve()));
    server = undefined;
    // node:net removes its socket file on close: leave one behind, unbound.
    const stale = path.join(dir, 'stale');
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(stale, () => resolve()));
    fs.linkSync(stale, path.join(dir, 'kept'));
    await new Promise<void>((resolve) => other.close(() => resolve()));
    expect(() => native().connectStream(path.join(dir, 'kept'))).toThrow(expect.objectContaining({ code: 'ECONNREFUSED', syscall: 'connect' }));
    expect(() => native().connectStream(socket)).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect' }));
  });
});
