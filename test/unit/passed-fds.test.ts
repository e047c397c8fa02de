// The descriptors and environment a new container gets from its caller:
// systemd's socket-activation sockets first, then --preserve-fds, and
// NOTIFY_SOCKET (lib/runtime/runtime.ts passedFds, as runc passes them).

import { describe, expect, it } from 'vitest';
import { passedFds } from '../../lib/runtime/runtime.js';

describe('passedFds', () => {
  it('nothing asked: no descriptors, no environment', () => {
    expect(passedFds({})).toStrictEqual({ extraFds: [] });
    expect(passedFds({ listenFds: 0, preserveFds: 0 })).toStrictEqual({ extraFds: [] });
  });

  it('--preserve-fds N: 3 .. 3+N-1, no environment', () => {
    expect(passedFds({ preserveFds: 2 })).toStrictEqual({ extraFds: [3, 4] });
  });

  it('LISTEN_FDS come first, then the preserved ones; LISTEN_PID is the container\'s pid 1', () => {
    expect(passedFds({ listenFds: 2, preserveFds: 1 })).toStrictEqual({ extraFds: [3, 4, 5], extraEnv: ['LISTEN_FDS=2', 'LISTEN_PID=1'] });
  });

  it('NOTIFY_SOCKET joins the environment', () => {
    expect(passedFds({ listenFds: 1 }, { env: 'NOTIFY_SOCKET=/run/notify/notify.sock' })).toStrictEqual({
      extraFds: [3],
      extraEnv: ['LISTEN_FDS=1', 'LISTEN_PID=1', 'NOTIFY_SOCKET=/run/notify/notify.sock'],
    });
  });
});
