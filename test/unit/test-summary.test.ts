// npm test's last lines (scripts/test-summary.js): why tests were skipped,
// and the Debian packages that would run them.

import { describe, expect, it } from 'vitest';

const { skippedLine } = require('../../scripts/test-summary.js') as { skippedLine(report: unknown): string | undefined };

const test = (status: string, ancestorTitles: string[], title = 'a test') => ({ status, ancestorTitles, title });

describe('test summary: the skipped line', () => {
  it('names the packages of the programs skipped tests need, once each, and other reasons as written', () => {
    const report = {
      testResults: [
        { name: '/x/test/integration/engines-podman.test.ts', assertionResults: [
          test('skipped', ['podman with tsbox as its runtime (skipped: not installed: podman, conmon or /usr/libexec/podman/conmon)']),
          test('skipped', ['podman with tsbox as its runtime (skipped: not installed: podman, conmon or /usr/libexec/podman/conmon)']),
        ] },
        { name: '/x/test/integration/engines-docker.test.ts', assertionResults: [
          test('skipped', ['docker with tsbox as a runtime (skipped: not installed: dockerd, containerd)']),
          test('passed', ['something else']),
        ] },
        { name: '/x/test/integration/dbus.test.ts', assertionResults: [test('skipped', ['D-Bus client against a real dbus-daemon (skipped: not installed: dbus-daemon)'])] },
        { name: '/x/test/integration/userns.test.ts', assertionResults: [test('skipped', ['userns'], 'raises rlimits (skipped: no CAP_SYS_RESOURCE here)')] },
        { name: '/x/test/unit/other.test.ts', assertionResults: [test('skipped', ['other'])] },
        { name: '/x/test/unit/said.test.ts', assertionResults: [test('skipped', ['ctr'], 'task update: skipped, ctr 1.6 has no task update command')] },
      ],
    };
    expect(skippedLine(report)).toBe(
      'skipped: 2 need podman, conmon; 1 need dockerd, containerd; 1 need dbus-daemon; 1: no CAP_SYS_RESOURCE here; 1: no reason given (other.test.ts); 1: ctr 1.6 has no task update command' +
        ' (to run them: apt-get install podman conmon docker.io containerd dbus-daemon)',
    );
  });

  it('says nothing when nothing was skipped', () => {
    expect(skippedLine({ testResults: [{ name: 'a.test.ts', assertionResults: [test('passed', [])] }] })).toBeUndefined();
  });
});
