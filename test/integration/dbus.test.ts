import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbusConnection, DbusError, socketPathOf } from '../../lib/systemd/dbus.js';
import { Variant, type DbusMessage, type DbusValue } from '../../lib/systemd/dbus-wire.js';

const DAEMON = '/usr/bin/dbus-daemon';
const BUS = { destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus' };

/** Resolves with the first message `accept` takes, or rejects after `ms`. */
function nextSignal(conn: DbusConnection, accept: (m: DbusMessage) => boolean, ms = 5000): Promise<DbusMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching signal within ${ms} ms`));
    }, ms);
    const off = conn.onSignal((m) => {
      if (!accept(m)) return;
      clearTimeout(timer);
      off();
      resolve(m);
    });
  });
}

describe.skipIf(!existsSync(DAEMON))('D-Bus client against a real dbus-daemon' + (existsSync(DAEMON) ? '' : ' (skipped: not installed: dbus-daemon)'), () => {
  let dir: string;
  let daemon: ChildProcess | undefined;
  let address: string;
  const abstractName = `tsbox-dbus-test-${process.pid}-${Date.now()}`;
  const connections: DbusConnection[] = [];
  const connect = async (socketPath = path.join(dir, 'bus'), opts?: { hello?: boolean; timeoutMs?: number }) => {
    const c = await DbusConnection.connect(socketPath, opts);
    connections.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tsbox-dbus-'));
    const config = path.join(dir, 'bus.conf');
    writeFileSync(
      config,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${path.join(dir, 'bus')}</listen>
  <listen>unix:abstract=${abstractName}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`,
    );
    daemon = spawn(DAEMON, [`--config-file=${config}`, '--nofork', '--print-address'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    daemon.stdout!.setEncoding('utf8');
    address = await new Promise<string>((resolve, reject) => {
      daemon!.on('error', reject);
      daemon!.on('exit', (code) => reject(new Error(`dbus-daemon exited with ${code} before printing its address`)));
      daemon!.stdout!.on('data', (d: string) => {
        out += d;
        if (out.includes('\n')) resolve(out.trim());
      });
    });
  });

  afterAll(async () => {
    for (const c of connections) c.close();
    if (daemon?.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
      const exited = once(daemon, 'exit');
      process.kill(daemon.pid, 'SIGTERM');
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('parses the addresses the daemon printed: the first unix one wins', () => {
    // dbus-daemon prints its listen addresses last first.
    const first = address.split(';')[0]!;
    const expected = first.startsWith('unix:abstract=') ? `\0${abstractName}` : path.join(dir, 'bus');
    expect(socketPathOf(address)).toBe(expected);
    expect(address.split(';').map((a) => socketPathOf(a)).sort()).toEqual([`\0${abstractName}`, path.join(dir, 'bus')].sort());
  });

  it('says Hello and gets a unique name; GetId and ListNames answer', async () => {
    const c = await connect();
    expect(c.uniqueName).toMatch(/^:1\.\d+$/);
    expect(c.guid).toMatch(/^[0-9a-f]{32}$/);
    const [id] = await c.call({ ...BUS, member: 'GetId' });
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    const [names] = await c.call({ ...BUS, member: 'ListNames' });
    expect(names).toContain('org.freedesktop.DBus');
    expect(names).toContain(c.uniqueName);
    const [owner] = await c.call({ ...BUS, member: 'GetNameOwner', signature: 's', body: ['org.freedesktop.DBus'] });
    expect(owner).toBe('org.freedesktop.DBus');
  });

  it('connects through the abstract socket, or says why it cannot', async () => {
    // Node 20 pads abstract names to the whole sun_path and so misses the
    // daemon's socket; the error must say so rather than just ECONNREFUSED.
    const abstract = socketPathOf(`unix:abstract=${abstractName}`);
    const c = await connect(abstract).catch((e: Error) => e);
    if (c instanceof Error) {
      expect(c.message).toMatch(new RegExp(`cannot connect to D-Bus socket @${abstractName}: .*may pad abstract socket names`));
    } else {
      expect(c.where).toBe(`@${abstractName}`);
      expect(c.uniqueName).toMatch(/^:1\.\d+$/);
    }
  });

  it('rejects an unknown method with a DbusError naming the error and the method', async () => {
    const c = await connect();
    const err = await c.call({ ...BUS, member: 'NoSuchMethod' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbusError);
    expect(err).toBeInstanceOf(Error);
    const e = err as DbusError;
    expect(e.name).toBe('org.freedesktop.DBus.Error.UnknownMethod');
    expect(e.message).toContain('org.freedesktop.DBus.NoSuchMethod on /org/freedesktop/DBus');
    expect(e.description).toMatch(/NoSuchMethod/);
  });

  it('delivers a signal sent by dbus-send after AddMatch, and stops after unsubscribing', async () => {
    const c = await connect();
    await c.call({ ...BUS, member: 'AddMatch', signature: 's', body: ["type='signal',interface='a.b'"] });
    const got = nextSignal(c, (m) => m.member === 'C');
    const send = spawn('dbus-send', [`--bus=${address}`, '--type=signal', '/x', 'a.b.C', 'string:hi', 'uint64:7'], {
      stdio: 'inherit',
    });
    const [code] = await once(send, 'exit');
    expect(code).toBe(0);
    const m = await got;
    expect(m).toMatchObject({ type: 'signal', path: '/x', interface: 'a.b', member: 'C', signature: 'st', body: ['hi', 7n] });
    expect(m.sender).toMatch(/^:1\.\d+$/);

    let heard = 0;
    const off = c.onSignal(() => heard++);
    off();
    const again = nextSignal(c, (m) => m.member === 'C');
    await once(spawn('dbus-send', [`--bus=${address}`, '--type=signal', '/x', 'a.b.C', 'string:again']), 'exit');
    expect((await again).body).toEqual(['again']);
    expect(heard).toBe(0);
  });

  describe('two connections calling each other', () => {
    const name = 'org.tsbox.DbusTest';
    let server: DbusConnection;
    let client: DbusConnection;
    const never = new Promise<never>(() => {});

    beforeAll(async () => {
      server = await connect();
      client = await connect();
      // 4 = DO_NOT_QUEUE; the reply 1 = PRIMARY_OWNER.
      expect(await server.call({ ...BUS, member: 'RequestName', signature: 'su', body: [name, 4] })).toEqual([1]);
      server.handleCalls((m) => {
        switch (m.member) {
          case 'Echo': return { signature: m.signature, body: m.body };
          case 'Who': return { signature: 's', body: [m.sender!] };
          case 'Fail': throw new DbusError('org.tsbox.DbusTest.Nope', 'asked to fail', 'Fail');
          case 'Crash': throw new Error('a handler bug');
          case 'BadReply': return { signature: 'u', body: ['not a number'] };
          case 'Hang': return never;
          default: return undefined;
        }
      });
    });
    const at = (member: string, signature = '', body: DbusValue[] = []) =>
      ({ destination: name, path: '/org/tsbox/Test', interface: 'org.tsbox.DbusTest', member, signature, body });

    it('echoes nested values intact through the bus', async () => {
      const properties: DbusValue[] = [
        'tsbox-abc.scope',
        'fail',
        [
          ['Description', new Variant('s', 'container abc')],
          ['PIDs', new Variant('au', [1, 2, 3])],
          ['MemoryMax', new Variant('t', 2n ** 40n)],
          ['CPUWeight', new Variant('t', 100n)],
          ['DeviceAllow', new Variant('a(ss)', [['/dev/null', 'rw']])],
          ['Empty', new Variant('a(t)', [])],
          ['Blob', new Variant('ay', Buffer.from([0, 1, 2]))],
          ['Nested', new Variant('v', new Variant('(yd)', [1, 0.5]))],
        ],
        [['aux.scope', [['Slice', new Variant('s', 'x.slice')]]]],
      ];
      expect(await client.call(at('Echo', 'ssa(sv)a(sa(sv))', properties))).toEqual(properties);
      expect(await client.call(at('Who'))).toEqual([client.uniqueName]);
      expect(await client.call(at('Nothing'))).toEqual([]);
    });

    it('carries a message larger than one socket read', async () => {
      const big = Buffer.alloc(3 * 1024 * 1024, 0xab);
      const [back] = await client.call(at('Echo', 'ay', [big]));
      expect(Buffer.compare(back as Buffer, big)).toBe(0);
    });

    it('answers errors: thrown DbusErrors keep their name, other throws are Failed', async () => {
      await expect(client.call(at('Fail'))).rejects.toMatchObject({
        name: 'org.tsbox.DbusTest.Nope',
        description: 'asked to fail',
        message: expect.stringContaining('org.tsbox.DbusTest.Fail on /org/tsbox/Test at org.tsbox.DbusTest'),
      });
      await expect(client.call(at('Crash'))).rejects.toMatchObject({
        name: 'org.freedesktop.DBus.Error.Failed',
        description: 'a handler bug',
      });
      await expect(client.call(at('BadReply'))).rejects.toMatchObject({
        name: 'org.freedesktop.DBus.Error.Failed',
        description: expect.stringMatching(/does not match signature 'u'/),
      });
      // Ping is answered without a handler; a connection with no handler says UnknownMethod.
      expect(await server.call({ destination: client.uniqueName, path: '/', interface: 'org.freedesktop.DBus.Peer', member: 'Ping' })).toEqual([]);
      await expect(server.call({ destination: client.uniqueName, path: '/', interface: 'a.b', member: 'C' })).rejects.toMatchObject({
        name: 'org.freedesktop.DBus.Error.UnknownMethod',
      });
    });

    it('times out a call with an error naming the method', async () => {
      await expect(client.call(at('Hang'), 200)).rejects.toThrow(
        'D-Bus call org.tsbox.DbusTest.Hang on /org/tsbox/Test at org.tsbox.DbusTest got no reply within 200 ms',
      );
      // The connection is still fine afterwards.
      expect(await client.call(at('Echo', 's', ['still here']))).toEqual(['still here']);
    });

    it('rejects pending and later calls once the connection is closed', async () => {
      const c = await connect();
      const pending = c.call(at('Hang'));
      c.close();
      await expect(pending).rejects.toThrow(/D-Bus call org\.tsbox\.DbusTest\.Hang .*: D-Bus connection to .*\/bus was closed/);
      await expect(c.call(at('Echo'))).rejects.toThrow(/was closed/);
      expect(c.closed).toBe(true);
    });
  });

  it('gives a clear error for a missing socket, naming the path', async () => {
    const missing = path.join(dir, 'no-such-socket');
    await expect(DbusConnection.connect(missing)).rejects.toThrow(
      new RegExp(`cannot connect to D-Bus socket ${missing}: .*ENOENT`),
    );
  });

  describe('against a fake server', () => {
    /** A unix socket server in the temp dir that answers auth with `authReply`, then `after` the first message. */
    async function fakeServer(authReply: string, after: (s: net.Socket) => void): Promise<{ sock: string; close: () => void }> {
      const sock = path.join(dir, `fake-${Math.random().toString(36).slice(2)}`);
      const peers: net.Socket[] = [];
      const server = net.createServer((s) => {
        peers.push(s);
        let got = '';
        let authed = false;
        s.on('data', (d) => {
          got += d.toString('latin1');
          if (!authed && got.includes('\r\n')) {
            authed = true;
            expect(got.startsWith(`\0AUTH EXTERNAL ${Buffer.from(String(process.getuid!())).toString('hex')}\r\n`)).toBe(true);
            s.write(authReply);
          } else if (authed && got.includes('BEGIN\r\n') && got.length > got.indexOf('BEGIN\r\n') + 7) {
            after(s);
          }
        });
      });
      server.listen(sock);
      await once(server, 'listening');
      return { sock, close: () => { for (const p of peers) p.destroy(); server.close(); } };
    }

    it('reports a refused authentication', async () => {
      const f = await fakeServer('REJECTED DBUS_COOKIE_SHA1\r\n', () => {});
      try {
        await expect(DbusConnection.connect(f.sock)).rejects.toThrow(
          /refused EXTERNAL authentication as uid \d+: it answered "REJECTED DBUS_COOKIE_SHA1"/,
        );
      } finally {
        f.close();
      }
    });

    it('reports a server that closes the connection while Hello is pending', async () => {
      const f = await fakeServer(`OK ${'0'.repeat(32)}\r\n`, (s) => s.destroy());
      try {
        await expect(DbusConnection.connect(f.sock)).rejects.toThrow(
          /D-Bus call org\.freedesktop\.DBus\.Hello .*: D-Bus connection to .*fake-\w+ was closed by the other side/,
        );
      } finally {
        f.close();
      }
    });

    it('reports a server that sends garbage after authentication', async () => {
      const f = await fakeServer(`OK ${'0'.repeat(32)}\r\n`, (s) => s.write('x'.repeat(32)));
      try {
        await expect(DbusConnection.connect(f.sock)).rejects.toThrow(/received a malformed message: not a D-Bus message/);
      } finally {
        f.close();
      }
    });

    it('times out a server that never answers authentication', async () => {
      const f = await fakeServer('', () => {});
      try {
        await expect(DbusConnection.connect(f.sock, { timeoutMs: 300 })).rejects.toThrow(
          /D-Bus authentication with .*fake-\w+ failed: timed out after 300 ms while authenticating/,
        );
      } finally {
        f.close();
      }
    });
  });
});

describe('socketPathOf', () => {
  it.each([
    ['unix:path=/run/dbus/system_bus_socket', '/run/dbus/system_bus_socket'],
    ['unix:abstract=/tmp/dbus-x,guid=0123', '\0/tmp/dbus-x'],
    ['tcp:host=localhost,port=1;unix:path=/a%20b', '/a b'],
    ['unix:runtime=yes;unix:path=/second', '/second'],
  ])('%s', (address, expected) => {
    expect(socketPathOf(address)).toBe(expected);
  });

  it.each([
    ['tcp:host=localhost,port=1', /has no unix:path= or unix:abstract= socket/],
    ['', /has no unix:path=/],
    ['nocolon', /'nocolon' has no transport/],
    ['unix:path', /'path' is not key=value/],
    ['unix:path=%zz', /bad %-escape/],
  ])('rejects %j', (address, problem) => {
    expect(() => socketPathOf(address)).toThrow(problem);
  });
});
