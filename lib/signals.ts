import { constants } from 'node:os';
import { TsboxError } from './errors.js';

const NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/**
 * A signal as people and engines write it: a number (`9`), a name (`KILL`,
 * `SIGKILL`, `sigkill`), or Node's own form.
 */
export function signalNumber(signal: NodeJS.Signals | string | number): number {
  if (typeof signal === 'number') return signal;
  if (/^\d+$/.test(signal)) {
    const n = Number(signal);
    if (n >= 1 && n <= 64) return n;
  } else {
    const upper = signal.toUpperCase();
    const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
    const n = constants.signals[name];
    if (n !== undefined) return n;
  }
  throw new TsboxError(`unknown signal "${signal}"`);
}

export function signalName(n: number): NodeJS.Signals | null {
  return NAMES.get(n) ?? null;
}
