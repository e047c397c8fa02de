// StateStore.remove: a container's state directory goes, whatever it holds,
// and a missing one is not an error (delete --force, a concurrent delete).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { native } from '../../lib/native/binding.js';
import { StateStore } from '../../lib/runtime/state.js';

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-state-test-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('StateStore.remove', () => {
  it('removes the files tsbox writes and the directory, leaving the other containers', () => {
    const store = new StateStore(tmp, native());
    for (const id of ['a', 'b']) {
      store.claim(id);
      fs.writeFileSync(path.join(tmp, id, 'state.json'), '{}');
      fs.writeFileSync(path.join(tmp, id, '.state.json.123.tmp'), '');
    }
    store.remove('a');
    expect(fs.readdirSync(tmp)).toEqual(['b']);
    expect(fs.readdirSync(path.join(tmp, 'b')).sort()).toEqual(['.state.json.123.tmp', 'state.json']);
  });

  it('also removes what tsbox did not put there (a subdirectory with files)', () => {
    const store = new StateStore(tmp, native());
    store.claim('c');
    fs.mkdirSync(path.join(tmp, 'c', 'sub', 'deeper'), { recursive: true });
    fs.writeFileSync(path.join(tmp, 'c', 'sub', 'deeper', 'x'), 'x');
    fs.writeFileSync(path.join(tmp, 'c', 'state.json'), '{}');
    store.remove('c');
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('is quiet about a directory that is already gone', () => {
    const store = new StateStore(tmp, native());
    expect(() => store.remove('never')).not.toThrow();
    expect(fs.readdirSync(tmp)).toEqual([]);
  });
});
