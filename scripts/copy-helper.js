'use strict';
// prebuildify packs only the .node file; the addon needs tsbox-helper beside
// it (lib/native/binding.ts looks for it there), so copy the freshly built
// helper into every prebuild folder made for this platform and architecture.
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const helper = path.join(root, 'build', 'Release', 'tsbox-helper');
const target = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!fs.existsSync(helper)) {
  console.error(`copy-helper: ${helper} is missing: run node-gyp rebuild first`);
  process.exit(1);
}
fs.mkdirSync(target, { recursive: true });
fs.copyFileSync(helper, path.join(target, 'tsbox-helper'));
fs.chmodSync(path.join(target, 'tsbox-helper'), 0o755);
console.log(`copy-helper: ${path.relative(root, path.join(target, 'tsbox-helper'))}`);
