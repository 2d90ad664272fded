import { describe, expect, it } from 'vitest';
import { formatDuration } from '#scripts/lib/duration.ts';

describe('Commands: a lag or an age as a duration', () => {
  it.each([
    [0, '0 ms'],
    [340, '340 ms'],
    // Rounded down, as every other unit: 999.6 ms is not yet a second.
    [999.6, '999 ms'],
    [4_200, '4.2 s'],
    [59_949, '59.9 s'],
    [59_999, '59.9 s'],
    [60_000, '1m 0s'],
    [125_000, '2m 5s'],
    [7_500_000, '2h 5m'],
    [86_399_999, '23h 59m'],
    [86_400_000, '1d 0h'],
    // A window that starts in 2020, six years long.
    [218_151_143_000, '2524d 21h'],
  ])('shows %s ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
