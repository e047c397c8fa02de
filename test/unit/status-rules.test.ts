// The status table (lib/runtime/status.ts): which operation is allowed in
// which status, the error classes callers test by type, and the texts
// engines look for.

import { describe, expect, it } from 'vitest';
import { TsboxError } from '../../lib/errors.js';
import type { Status } from '../../lib/oci/state.js';
import { ociState } from '../../lib/oci/state.js';
import { allowed, checkStatus, NotFound, WrongStatus, type Operation } from '../../lib/runtime/status.js';

const STATUSES: Status[] = ['creating', 'created', 'running', 'paused', 'stopped'];

describe('status rules', () => {
  it('allow each operation in exactly the statuses runc allows it in', () => {
    const table = (op: Operation) => STATUSES.filter((s) => allowed(op, s));
    expect({
      start: table('start'),
      exec: table('exec'),
      pause: table('pause'),
      resume: table('resume'),
      kill: table('kill'),
      stats: table('stats'),
      update: table('update'),
      delete: table('delete'),
    }).toEqual({
      start: ['created'],
      exec: ['running'],
      pause: ['running'],
      resume: ['paused'],
      kill: ['creating', 'created', 'running', 'paused'],
      stats: ['creating', 'created', 'running', 'paused'],
      update: ['creating', 'created', 'running', 'paused'],
      delete: ['created', 'stopped'],
    });
  });

  it('refuse with WrongStatus, carrying the operation and status, in the words engines look for', () => {
    const refusal = (op: Operation, status: Status) => {
      try {
        checkStatus(op, 'c1', status);
      } catch (err) {
        return err;
      }
      throw new Error(`${op} in ${status} was allowed`);
    };
    const kill = refusal('kill', 'stopped');
    expect(kill).toBeInstanceOf(WrongStatus);
    expect(kill).toBeInstanceOf(TsboxError);
    expect(kill).toMatchObject({ id: 'c1', operation: 'kill', status: 'stopped', message: 'cannot kill container "c1": container not running' });
    expect(refusal('stats', 'stopped')).toMatchObject({ message: 'cannot get stats of container "c1": container not running' });
    expect(refusal('start', 'running')).toMatchObject({ message: 'cannot start container "c1": it is running, not created' });
    expect(refusal('delete', 'creating')).toMatchObject({ message: 'cannot delete container "c1" that is not stopped: it is creating (use --force)' });
    expect(refusal('resume', 'running')).toMatchObject({ message: 'cannot resume container "c1": it is running, not paused' });
    expect(() => checkStatus('exec', 'c1', 'running')).not.toThrow();
  });

  it('NotFound says what engines look for', () => {
    const err = new NotFound('gone');
    expect(err).toBeInstanceOf(TsboxError);
    expect(err).toMatchObject({ id: 'gone', message: 'container "gone" does not exist' });
  });

  it('one OCI state builder: the spec fields, annotations defaulted', () => {
    expect(ociState({ id: 'a', pid: 7, bundle: '/b' }, 'created')).toEqual({
      ociVersion: expect.stringMatching(/^1\.\d+\.\d+$/),
      id: 'a',
      pid: 7,
      status: 'created',
      bundle: '/b',
      annotations: {},
    });
  });
});
