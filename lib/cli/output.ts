import { writeSync } from 'node:fs';

/**
 * Writes a command's output to stdout. Straight to the descriptor, as the
 * logger does for stderr: creating process.stdout costs ~3 ms, paid by every
 * `tsbox state` an engine runs. Only a non-blocking descriptor that is full
 * (EAGAIN) is left to process.stdout, which knows how to wait for it.
 */
export function writeStdout(text: string): void {
  const data = Buffer.from(text);
  let done = 0;
  while (done < data.length) {
    try {
      done += writeSync(1, data, done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      process.stdout.write(data.subarray(done));
      return;
    }
  }
}
