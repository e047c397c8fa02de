// The declarations a user of the package compiles against (dist/index.d.ts,
// built by the global set-up) name their types: a consumer can import the
// types that public signatures mention.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');

/** tsc's diagnostics for consumer files (name -> source), as "name: message" lines. */
function compile(files: Record<string, string>): string[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-types-'));
  try {
    const names = Object.entries(files).map(([name, source]) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, source.replaceAll('TSBOX', JSON.stringify(path.join(ROOT, 'dist', 'index.js'))));
      return file;
    });
    const program = ts.createProgram(names, {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
    });
    return ts
      .getPreEmitDiagnostics(program)
      .map((d) => `${path.basename(d.file?.fileName ?? '?')}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('public types', () => {
  it('exports Cgroups and StateStore, which RunningContainer and Runtime mention', () => {
    const errors = compile({
      'consumer.ts': `
        import type { Cgroups, RunningContainer, Runtime, StateStore } from TSBOX;
        export function cgroupsOf(c: RunningContainer): Cgroups | undefined { return c.cgroups; }
        export function storeOf(r: Runtime): StateStore { return r.store; }
        export function dirs(c: Cgroups): string[] { return Object.values(c.dirs); }
        export function root(s: StateStore): string { return s.root; }
      `,
      // The check itself: a name the package does not export is an error.
      'missing.ts': `import type { NoSuchType } from TSBOX; export type X = NoSuchType;`,
    });
    expect(errors).toEqual([expect.stringMatching(/^missing\.ts: .*NoSuchType/)]);
  });
});
