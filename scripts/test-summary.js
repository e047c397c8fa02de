'use strict';
// Runs the test suite (npm test) with vitest's JSON report beside its usual
// output, then prints the totals as one plain line, "N passed, N failed,
// N skipped", which CI reads. Exits with vitest's status.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tsbox-tests-')), 'report.json');
const result = spawnSync('npm', ['test', '--', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
  stdio: 'inherit',
});
let summary = 'no test report was written';
try {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  summary = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`;
} catch (err) {
  summary += ` (${err.message})`;
}
fs.rmSync(path.dirname(report), { recursive: true, force: true });
console.log(summary);
process.exit(result.status ?? 1);
