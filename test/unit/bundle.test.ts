import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadBundle, parseSpec } from '../../lib/bundle.js';
import { ConfigError, TsboxError } from '../../lib/errors.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

let tmp: string;

beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-bundle-test-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function config(edit: (c: Json) => void = () => {}): Json {
  const c: Json = {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/' },
    linux: { namespaces: [{ type: 'mount' }] },
  };
  edit(c);
  return c;
}

/** A bundle directory under tmp with the given config.json text (or object) and a rootfs. */
function makeBundle(content: string | Json = config(), name = 'bundle'): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, 'rootfs'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return dir;
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TsboxError);
    return err as Error;
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('loadBundle', () => {
  it('loads a valid bundle', () => {
    const dir = makeBundle();
    const bundle = loadBundle(dir);
    expect(bundle).toStrictEqual({
      dir,
      configPath: path.join(dir, 'config.json'),
      spec: config(),
      rootfs: path.join(dir, 'rootfs'),
    });
  });

  it('resolves a relative bundle dir and an absolute root.path', () => {
    const rootfs = path.join(tmp, 'elsewhere');
    fs.mkdirSync(rootfs);
    const dir = makeBundle(config((c) => (c.root.path = rootfs)));
    const relative = path.relative(process.cwd(), dir);
    const bundle = loadBundle(relative);
    expect(bundle.dir).toBe(dir);
    expect(bundle.rootfs).toBe(rootfs);
  });

  it('resolves a relative root.path against the bundle, not the cwd', () => {
    fs.mkdirSync(path.join(tmp, 'shared-root'));
    const dir = makeBundle(config((c) => (c.root.path = '../shared-root/.')));
    expect(loadBundle(dir).rootfs).toBe(path.join(tmp, 'shared-root'));
  });

  it('a missing directory', () => {
    const dir = path.join(tmp, 'nope');
    const err = thrown(() => loadBundle(dir));
    expect(err).not.toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`bundle "${dir}": no such directory`);
  });

  it('names the directory as given', () => {
    const err = thrown(() => loadBundle('./definitely-not-a-bundle-dir-xyz'));
    expect(err.message).toBe('bundle "./definitely-not-a-bundle-dir-xyz": no such directory');
  });

  it('a file instead of a directory', () => {
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, '{}');
    expect(thrown(() => loadBundle(file)).message).toBe(`bundle "${file}": not a directory`);
  });

  it('a missing config.json', () => {
    const dir = path.join(tmp, 'empty');
    fs.mkdirSync(dir);
    expect(thrown(() => loadBundle(dir)).message).toBe(`read "${path.join(dir, 'config.json')}": no such file`);
  });

  it('config.json that is a directory', () => {
    const dir = path.join(tmp, 'b');
    fs.mkdirSync(path.join(dir, 'config.json'), { recursive: true });
    expect(thrown(() => loadBundle(dir)).message).toBe(`read "${path.join(dir, 'config.json')}": is a directory`);
  });

  it.each([
    ['{\n  "ociVersion": "1.2.0",\n  "root": {"path": "rootfs",}\n}', 3, 29],
    ['{"ociVersion": "1.2.0" "root": {}}', 1, 24],
    ['', 1, 1],
    ['{\n', 2, 1],
    ['{\n  "a": "unterminated\n}', 2, 21],
    ['{\n\n\n      "a": tru }', 4, 12],
    ['{"a": 1}\n\n  garbage', 3, 3],
  ])('invalid JSON %j: line %i, column %i', (text, line, column) => {
    const dir = makeBundle(text);
    const err = thrown(() => loadBundle(dir));
    expect(err).not.toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`${path.join(dir, 'config.json')}: invalid JSON at line ${line}, column ${column}`);
  });

  // jsonErrorOffset matches numbers against at most 400 characters (see
  // json-location.test.ts), so an error after a longer number is placed in
  // the middle of that number.
  it('invalid JSON after a number longer than 400 digits: the error\'s real place', () => {
    const dir = makeBundle(`{\n  "a": ${'1'.repeat(450)},\n  "b": [1,]\n}`);
    expect(thrown(() => loadBundle(dir)).message).toBe(
      `${path.join(dir, 'config.json')}: invalid JSON at line 3, column 11`,
    );
  });

  it('a schema violation names the config file, then the JSON path', () => {
    const dir = makeBundle(config((c) => (c.mounts = [{ destination: '' }])));
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    const configPath = path.join(dir, 'config.json');
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.file).toBe(configPath);
    expect(err.jsonPath).toBe('mounts[0].destination');
    expect(err.problem).toBe('must be a non-empty string, got ""');
    expect(err.message).toBe(`${configPath}: mounts[0].destination: must be a non-empty string, got ""`);
  });

  it('a config that is not an object', () => {
    const dir = makeBundle('[1, 2]');
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`${path.join(dir, 'config.json')}: config must be a JSON object`);
  });

  it('a missing process', () => {
    const dir = makeBundle(config((c) => delete c.process));
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.jsonPath).toBe('process');
    expect(err.file).toBe(path.join(dir, 'config.json'));
    // The validator already requires it (loadBundle's own check is a second line).
    expect(err.message).toBe(`${path.join(dir, 'config.json')}: process: is required`);
  });

  it('empty process.args', () => {
    const dir = makeBundle(config((c) => (c.process.args = [])));
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.jsonPath).toBe('process.args');
    expect(err.message.startsWith(`${path.join(dir, 'config.json')}: process.args: must be a non-empty array`)).toBe(true);
  });

  it('a missing root', () => {
    const dir = makeBundle(config((c) => delete c.root));
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.jsonPath).toBe('root');
    expect(err.message).toBe(`${path.join(dir, 'config.json')}: root: is required`);
  });

  it('a missing rootfs', () => {
    const dir = makeBundle(config((c) => (c.root.path = 'no-such-rootfs')));
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.jsonPath).toBe('root.path');
    expect(err.message).toBe(
      `${path.join(dir, 'config.json')}: root.path: rootfs "${path.join(dir, 'no-such-rootfs')}" does not exist`,
    );
  });

  it('a rootfs that is a file', () => {
    const dir = makeBundle(config((c) => (c.root.path = 'rootfs-file')));
    fs.writeFileSync(path.join(dir, 'rootfs-file'), '');
    const err = thrown(() => loadBundle(dir)) as ConfigError;
    expect(err.message).toBe(
      `${path.join(dir, 'config.json')}: root.path: rootfs "${path.join(dir, 'rootfs-file')}" is not a directory`,
    );
  });

  it('a symlink to a bundle directory and to a rootfs are followed', () => {
    const dir = makeBundle();
    fs.symlinkSync(dir, path.join(tmp, 'link'));
    expect(loadBundle(path.join(tmp, 'link')).rootfs).toBe(path.join(tmp, 'link', 'rootfs'));
  });
});

describe('parseSpec', () => {
  it('returns the validated config', () => {
    expect(parseSpec(JSON.stringify(config()), 'f.json')).toStrictEqual(config());
  });

  it('names the file it is given', () => {
    expect(() => parseSpec('{', 'some/file.json')).toThrow('some/file.json: invalid JSON at line 1, column 2');
    expect(() => parseSpec('{"ociVersion": 1}', 'x.json')).toThrow('x.json: ociVersion: must be a string, got 1');
  });
});
