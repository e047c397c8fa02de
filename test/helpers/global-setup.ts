import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

/**
 * Compiles lib/ into dist/ once per test run, so that tests of bin/tsbox run
 * the code under test and not a stale build, and packs it as `npm run
 * build` does (scripts/pack-cli.js), so that they run it the way bin/tsbox
 * loads it. A user who may not write the checkout (the unit tests run
 * unprivileged: `npm run test:unit:unprivileged`) runs no test of bin/tsbox,
 * and builds nothing.
 */
export default function setup(): void {
  const root = path.resolve(__dirname, '..', '..');
  try {
    accessSync(path.join(root, 'dist'), constants.W_OK);
  } catch {
    return;
  }
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(process.execPath, [path.join(root, 'scripts/pack-cli.js')], { cwd: root, stdio: 'inherit' });
}
