// A client of containerd's CRI streaming server (the URLs Exec and Attach
// answer with), as `crictl exec -i` / `kubectl exec -i` / `kubectl cp` use
// it, over WebSocket with the v4.channel.k8s.io protocol: each binary
// message is one byte naming the stream (0 stdin, 1 stdout, 2 stderr, 3 the
// final status as JSON, 4 a terminal size) and its data. The server listens on 127.0.0.1 in
// containerd's own network namespace, which this process is not in: the TCP
// connection is made by a node child run there by nsenter, its stdin and
// stdout piped to the socket. v4 has no way to close stdin alone: closing
// the connection is the end of stdin (and of everything else).

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';

export interface StreamResult {
  stdout: string;
  stderr: string;
  /** The v4 status (stream 3): `{"status":"Success"}`, or a failure with the exit code in details.causes. */
  status: { status?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } } | undefined;
  /** The exit code from the status (0 on Success), or undefined when none came. */
  exitCode: number | undefined;
}

export interface Stream {
  /** Sends data on stdin (stream 0). */
  write(data: Buffer | string): void;
  /** Sends a terminal size (stream 4), for an exec or attach with a tty. */
  resize(width: number, height: number): void;
  /** Output so far. */
  readonly stdout: string;
  /** Closes the connection (the only end of stdin there is in v4). */
  close(): void;
  /** Resolves when the server closed the connection (the process ended). */
  done: Promise<StreamResult>;
}

/** Opens `url` (http://127.0.0.1:PORT/exec/TOKEN) from the network namespace of process `netnsPid`. */
export async function openStream(url: string, netnsPid: number): Promise<Stream> {
  const u = new URL(url);
  const relay = `const s=require('net').connect(${Number(u.port)},${JSON.stringify(u.hostname)});process.stdin.pipe(s);s.pipe(process.stdout);s.on('error',e=>{console.error(e.message);process.exit(1)});s.on('close',()=>process.exit(0))`;
  const child = spawn('nsenter', [`--net=/proc/${netnsPid}/ns/net`, '--', process.execPath, '-e', relay], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  const key = crypto.randomBytes(16).toString('base64');
  child.stdin.write(
    [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Protocol: v4.channel.k8s.io',
      '',
      '',
    ].join('\r\n'),
  );
  const channels: Buffer[][] = [[], [], [], [], []];
  const text = (n: number) => Buffer.concat(channels[n]!).toString();
  let pending = Buffer.alloc(0);
  let upgraded = false;
  let relayErr = '';
  child.stderr.on('data', (d: Buffer) => (relayErr += d.toString()));

  const upgradedOk = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d]);
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.subarray(0, end).toString();
        if (!/^HTTP\/1\.1 101/.test(head)) {
          reject(new Error(`streaming server refused the WebSocket upgrade: ${head.split('\r\n')[0]} ${pending.subarray(end + 4).toString()}`));
          return;
        }
        upgraded = true;
        pending = pending.subarray(end + 4);
        resolve();
      }
      // Server frames are unmasked: FIN/opcode, length (7, 16 or 64 bits), payload.
      while (pending.length >= 2) {
        const opcode = pending[0]! & 0x0f;
        let len = pending[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (pending.length < 4) return;
          len = pending.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (pending.length < 10) return;
          len = Number(pending.readBigUInt64BE(2));
          off = 10;
        }
        if (pending.length < off + len) return;
        const payload = pending.subarray(off, off + len);
        pending = pending.subarray(off + len);
        if ((opcode === 1 || opcode === 2) && payload.length > 1) channels[payload[0]!]?.push(Buffer.from(payload.subarray(1)));
        if (opcode === 9) child.stdin.write(frame(0xa, payload));
      }
    });
    child.once('exit', () => {
      if (!upgraded) reject(new Error(`the connection to ${url} ended before the upgrade: ${relayErr}`));
    });
  });
  const done = new Promise<StreamResult>((resolve) => {
    child.once('close', () => {
      const raw = text(3);
      const status = raw ? (JSON.parse(raw) as StreamResult['status']) : undefined;
      const cause = status?.details?.causes?.find((c) => c.reason === 'ExitCode');
      const exitCode = status?.status === 'Success' ? 0 : cause?.message !== undefined ? Number(cause.message) : undefined;
      resolve({ stdout: text(1), stderr: text(2), status, exitCode });
    });
  });
  await upgradedOk;
  return {
    write: (data) => child.stdin.write(frame(0x2, Buffer.concat([Buffer.from([0]), Buffer.from(data)]))),
    resize: (width, height) => child.stdin.write(frame(0x2, Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify({ Width: width, Height: height }))]))),
    get stdout() {
      return text(1);
    },
    close: () => {
      child.stdin.end(frame(0x8, Buffer.alloc(0)));
    },
    done,
  };
}

/** One client frame (clients must mask): FIN set, `opcode`, the payload. */
function frame(opcode: number, payload: Buffer): Buffer {
  const mask = crypto.randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len]) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (len >= 126 && len < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else if (len >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, masked]);
}
