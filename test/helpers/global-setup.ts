import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

/**
 * Compiles lib/ into dist/ once per test run, so that tests of bin/tsbox run
 * the code under test and not a stale build.
 */
export default function setup(): void {
  const root = path.resolve(__dirname, '..', '..');
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
}
