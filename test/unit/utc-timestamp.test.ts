import { describe, expect, it } from 'vitest';
import { utcTimestamp } from '../../lib/utc-timestamp.js';

describe('utcTimestamp', () => {
  it('writes what toISOString writes, at the edges of days, months, leap years and centuries', () => {
    const times = [
      '1970-01-01T00:00:00.000Z',
      '1969-12-31T23:59:59.999Z',
      '0000-01-01T00:00:00.000Z',
      '0000-02-29T12:00:00.000Z',
      '1900-02-28T23:59:59.999Z',
      '1900-03-01T00:00:00.000Z',
      '2000-02-29T00:00:00.000Z',
      '2000-03-01T00:00:00.000Z',
      '2024-12-31T23:59:59.999Z',
      '2025-01-01T00:00:00.001Z',
      '2100-02-28T10:20:30.405Z',
      '2100-03-01T00:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
    ];
    for (const t of times) expect(utcTimestamp(Date.parse(t))).toBe(t);
  });

  it('agrees with toISOString on 100000 random times from year 0 to 9999', () => {
    const first = Date.parse('0000-01-01T00:00:00.000Z');
    const last = Date.parse('9999-12-31T23:59:59.999Z');
    for (let i = 0; i < 100_000; i++) {
      const ms = first + Math.floor(Math.random() * (last - first + 1));
      expect(utcTimestamp(ms), `at ${ms}`).toBe(new Date(ms).toISOString());
    }
  });

  it('is now by default', () => {
    const before = Date.now();
    const t = Date.parse(utcTimestamp());
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });
});
