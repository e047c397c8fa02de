'use strict';
// What the v2 check scripts (test/v2/checks.js, test/v2/systemd-checks.js)
// share: running one check into a result, and running main() as a script.

/** An error's stack, or its text. */
function errorText(err) {
  return String(err && err.stack ? err.stack : err);
}

/**
 * Runs `fn`, then `report({ name, ok, ms[, error] })`. `detail()`, where
 * given, is added to a failure's text (a daemon's log, say).
 */
async function runCheck(name, fn, report, detail) {
  const t = Date.now();
  try {
    await fn();
    report({ name, ok: true, ms: Date.now() - t });
  } catch (err) {
    report({ name, ok: false, ms: Date.now() - t, error: detail ? `${errorText(err)}\n${detail()}` : errorText(err) });
  }
}

/** main()'s result is the exit status; a throw is status 2, printed after `label`. */
function runAsScript(main, label) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`${label}: ${errorText(err)}`);
      process.exit(2);
    },
  );
}

module.exports = { errorText, runCheck, runAsScript };
