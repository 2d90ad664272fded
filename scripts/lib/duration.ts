/**
 * A lag or an age for a person to read: milliseconds under a second, tenths of a second under a minute, then the
 * two largest units (2m 5s, 2h 5m, 2524d 21h), each rounded down, so that no age reads as the next unit up (999.6 ms
 * is 999 ms, 59.96 s is 59.9 s) and a lag of days never reads as 218151143 s.
 */
export const formatDuration = (ms: number): string => {
  if (ms < 1_000) return `${Math.max(0, Math.floor(ms))} ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1_000);
  const [d, h, m, s] = [
    Math.floor(seconds / 86_400),
    Math.floor(seconds / 3_600) % 24,
    Math.floor(seconds / 60) % 60,
    seconds % 60,
  ];
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return `${m}m ${s}s`;
};
