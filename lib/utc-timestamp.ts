/**
 * A time as Date's toISOString() writes it (2026-12-06T23:04:05.229Z),
 * computed from the epoch milliseconds by arithmetic. The first Date
 * method that formats or splits a time makes V8 set up its time zone
 * (ICU's zone data, /etc/localtime and its links): ~2 ms of CPU in a fresh
 * process, although an ISO time is UTC and needs no zone. Every create and
 * run records one. Years 0 to 9999 only (toISOString writes others as
 * +YYYYYY): a clock outside them is wrong anyway.
 */
export function utcTimestamp(ms: number = Date.now()): string {
  const DAY = 86_400_000;
  const days = Math.floor(ms / DAY);
  const { year, month, day } = civilDate(days);
  let rest = ms - days * DAY;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hours, 2)}:${pad(minutes, 2)}:${pad(seconds, 2)}.${pad(millis, 3)}Z`;
}

/**
 * The Gregorian date of a day counted from 1970-01-01. Counted in 400-year
 * eras that start on March 1st (the leap day is then the last day of its
 * year), so that every era has the same 146097 days.
 */
function civilDate(daysSince1970: number): { year: number; month: number; day: number } {
  const fromEpoch0 = daysSince1970 + 719_468; // days from 0000-03-01
  const era = Math.floor(fromEpoch0 / 146_097);
  const dayOfEra = fromEpoch0 - era * 146_097; // 0 .. 146096
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100)); // from March 1st
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153); // 0 = March .. 11 = February
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  return { year: yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
