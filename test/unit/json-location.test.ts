import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, lineAndColumn } from '../../lib/json-location.js';

const CLIENT_CONFIGS = path.resolve(__dirname, '../fixtures/client-configs');

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

const VALID = [
  '{}',
  '[]',
  '0',
  '-0',
  '1.5e-7',
  '-12.25E+3',
  '1E2',
  'true',
  'false',
  'null',
  '""',
  '"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"',
  '"\\u00e9\\uD83D\\uDE00\\uFFFF"',
  '"\\ud800"',
  '"héllo ✓ \u2028 \u007f"',
  ' \t\r\n{ \t\r\n"a" \t\r\n: \t\r\n1 \t\r\n} \t\r\n',
  '{"a":{"b":[1,2,{"c":null}]},"d":[[],[[]],{}],"e":""}',
  '[1,"2",true,false,null,{"x":[]},[{}]]',
  '{"":""}',
  '{"a":1,"a":2}',
  '[ ]',
  '{ }',
  '[[[[[[[[[[]]]]]]]]]]',
  '{"k":-1.0e+10}',
  '12345678901234567890123456789',
  JSON.stringify({ ociVersion: '1.2.0', process: { args: ['sh', '-c', 'echo "hi"\n'], env: ['A=\u0001'] }, n: [1.25, -3, 1e300] }, null, 2),
];

describe('jsonErrorOffset on valid JSON', () => {
  it.each(VALID)('%j is valid', (text) => {
    expect(parses(text)).toBe(true);
    expect(jsonErrorOffset(text)).toBe(-1);
  });

  it('the real client configs', () => {
    for (const name of fs.readdirSync(CLIENT_CONFIGS).filter((f) => f.endsWith('.json'))) {
      const text = fs.readFileSync(path.join(CLIENT_CONFIGS, name), 'utf8');
      expect(jsonErrorOffset(text), name).toBe(-1);
    }
  });

  it('deeply nested but complete', () => {
    const depth = 100_000;
    expect(jsonErrorOffset('['.repeat(depth) + ']'.repeat(depth))).toBe(-1);
    expect(jsonErrorOffset('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))).toBe(-1);
  });

  // A number is matched against at most 400 characters of text, so a longer
  // one (valid JSON: JSON.parse reads it as Infinity or a rounded double) is
  // cut short and its 401st character reported as an error.
  it('a number longer than 400 characters', () => {
    for (const text of ['1'.repeat(500), `0.${'5'.repeat(500)}`, `[${'9'.repeat(401)}]`]) {
      expect(parses(text)).toBe(true);
      expect(jsonErrorOffset(text)).toBe(-1);
    }
  });
});

describe('jsonErrorOffset on invalid JSON', () => {
  // [text, offset of the first character that cannot continue a valid document]
  const INVALID: Array<[string, number]> = [
    ['', 0],
    ['   ', 3],
    ['\n\n', 2],
    ['[1,]', 3],
    ['[1,2,]', 5],
    ['{"a":1,}', 7],
    ['{"a":1 , }', 9],
    ['[,1]', 1],
    ['{,}', 1],
    ['{"a" 1}', 5],
    ['{"a"}', 4],
    ['{"a":}', 5],
    ['{a:1}', 1],
    ["{'a':1}", 1],
    ['{"a":1 "b":2}', 7],
    ['[1 2]', 3],
    ['{"a":1]', 6],
    ['[1}', 2],
    ['"\\x"', 1],
    ['"ab\\', 3],
    ['"\\u12"', 1],
    ['"\\u12G4"', 1],
    ['["ok", "\\q"]', 8],
    ['"abc', 4],
    ['["abc', 5],
    ['{"abc', 5],
    ['"a\nb"', 2],
    ['"tab\there"', 4],
    ['{} x', 3],
    ['[]]', 2],
    ['{"a":1}}', 7],
    ['1 2', 2],
    ['truex', 4],
    ['nul', 0],
    ['True', 0],
    ['undefined', 0],
    ['NaN', 0],
    ['Infinity', 0],
    ['-', 0],
    ['+1', 0],
    ['.5', 0],
    ['01', 1],
    ['1.', 1],
    ['1.e5', 1],
    ['[1', 2],
    ['{"a":[1,{"b":2}', 15],
    ['\uFEFF{}', 0],
    ['{"a":1}\u00a0', 7],
    ['[1,\n2,\n]', 7],
  ];

  it.each(INVALID)('%j fails at %i', (text, offset) => {
    expect(parses(text)).toBe(false);
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it('100000 unclosed [ without exhausting the stack', () => {
    const text = '['.repeat(100_000);
    expect(jsonErrorOffset(text)).toBe(100_000);
    expect(jsonErrorOffset(`${text}1,]`)).toBe(100_002);
    expect(jsonErrorOffset('{"a":'.repeat(100_000))).toBe(500_000);
  });

  it('agrees with JSON.parse on whether every prefix of a document is valid', () => {
    const doc = JSON.stringify({ a: [1, -2.5e3, 'x\\"y', true, null, { b: {} }], c: '\u00e9' }, null, 1);
    for (let i = 0; i <= doc.length; i++) {
      const text = doc.slice(0, i);
      const offset = jsonErrorOffset(text);
      expect(offset === -1, JSON.stringify(text)).toBe(parses(text));
      if (offset !== -1) expect(offset).toBeLessThanOrEqual(text.length);
    }
  });
});

describe('lineAndColumn', () => {
  const text = 'ab\ncde\n\nf';
  it.each([
    [0, 1, 1],
    [1, 1, 2],
    [2, 1, 3],
    [3, 2, 1],
    [5, 2, 3],
    [6, 2, 4],
    [7, 3, 1],
    [8, 4, 1],
    [9, 4, 2],
  ])('offset %i is line %i, column %i', (offset, line, column) => {
    expect(lineAndColumn(text, offset)).toStrictEqual({ line, column });
  });

  it('counts \\r as a column, only \\n as a line break', () => {
    expect(lineAndColumn('a\r\nb', 3)).toStrictEqual({ line: 2, column: 1 });
    expect(lineAndColumn('a\rb', 2)).toStrictEqual({ line: 1, column: 3 });
  });

  it('with jsonErrorOffset', () => {
    const doc = '{\n  "a": 1,\n  "b": [1, 2,]\n}';
    const offset = jsonErrorOffset(doc);
    expect(doc[offset]).toBe(']');
    expect(lineAndColumn(doc, offset)).toStrictEqual({ line: 3, column: 14 });
  });
});
