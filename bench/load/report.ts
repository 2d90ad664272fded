import { type LineSeries, lineChartSvg } from '#bench/report/svg.ts';
import { formatDuration } from '#scripts/lib/duration.ts';
import type { LoadReport } from './load-test.ts';

/** `load-2026-11-27T19-10-00-000Z`: a file name from the run's start, safe on every file system. */
export const reportBaseName = (startedAt: string): string =>
  `load-${startedAt.replaceAll(':', '-').replace('.', '-')}`;

/**
 * The end of the chart's time axis, in whole seconds: up to 5 s as it is, past that a multiple of 5, so that the
 * axis' five ticks fall on whole seconds and every tick and point lands on a round coordinate.
 */
export const chartSeconds = (seconds: number): number => {
  const whole = Math.max(1, Math.ceil(Number(seconds.toPrecision(12))));
  return whole <= 5 ? whole : Math.ceil(whole / 5) * 5;
};

/** lineChartSvg lays its legend out one entry every 260 px from x = 70; a longest entry takes about 180 px. */
const legendWidth = (entries: number): number => 70 + 260 * (entries - 1) + 180;

/**
 * The written, throttled and otherwise failed records per second and the iterator age over time, on one chart. The
 * time axis reaches the run's end and every iterator-age sample, the last look after the run and the data points
 * waited for included. The failed series is drawn when some entries failed.
 */
export const loadChartSvg = (report: LoadReport): string => {
  const perSecond = (pick: (s: LoadReport['perSecond'][number]) => number): Array<[number, number]> =>
    report.perSecond.map((s) => [s.second + 0.5, pick(s)]);
  const samples = report.iteratorAge.samples;
  const { stoppedAtMs } = report.iteratorAge;
  const series: LineSeries[] = [
    {
      name: 'written',
      unit: 'records/s',
      axis: 'left',
      color: '#1565c0',
      points: perSecond((s) => s.written),
    },
    {
      name: 'throttled',
      unit: 'records/s',
      axis: 'left',
      color: '#c62828',
      points: perSecond((s) => s.throttled),
    },
    ...(report.perSecond.some((s) => s.failed > 0)
      ? [
          {
            name: 'failed',
            unit: 'records/s',
            axis: 'left' as const,
            color: '#6a1b9a',
            points: perSecond((s) => s.failed),
          },
        ]
      : []),
    {
      name:
        stoppedAtMs === undefined
          ? 'iterator age'
          : `iterator age, until ${(stoppedAtMs / 1000).toFixed(1)} s`,
      unit: 'ms',
      axis: 'right',
      color: '#2e7d32',
      points: samples.map((s) => [Math.max(0, s.atMs) / 1000, s.ageMs]),
    },
  ];
  return lineChartSvg({
    title: `Load test: ${report.requested.rate} records/s for ${report.requested.seconds} s into ${report.stream}${report.interrupted ? ` (interrupted by ${report.interrupted})` : ''}`,
    xLabel: 'seconds since start',
    // The run's own length (longer when the sends fell behind), not a round value far past it.
    xMax: chartSeconds(
      Math.max(
        report.requested.seconds,
        report.perSecond.length,
        report.elapsedMs / 1000,
        ...samples.map((s) => s.atMs / 1000),
      ),
    ),
    ...(series.length > 3 ? { width: legendWidth(series.length) } : {}),
    series,
  });
};

/** The iterator-age line of the summary: the samples and until when, or why there are none. */
const iteratorAgeLine = (age: LoadReport['iteratorAge']): string => {
  if (!age.available || age.samples.length === 0)
    return `  iterator age: not available (${age.reason ?? 'no source'})`;
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const first = age.samples[0]!;
  const last = age.samples[age.samples.length - 1]!;
  const span =
    age.samples.length === 1
      ? `at ${seconds(first.atMs)}`
      : `from ${seconds(first.atMs)} to ${seconds(last.atMs)}`;
  return [
    `  iterator age: ${age.samples.length} sample${age.samples.length === 1 ? '' : 's'} from ${age.source} ${span}, highest ${formatDuration(Math.max(...age.samples.map((s) => s.ageMs)))}`,
    ...(age.waitedMs === undefined
      ? []
      : [`, ${seconds(age.waitedMs)} waited after the run for late data points`]),
    ...(age.missed === undefined
      ? []
      : [
          `; ${age.missed.count} reading${age.missed.count === 1 ? '' : 's'} skipped, with no answer in time (last: ${age.missed.lastReason})`,
        ]),
    ...(age.stoppedAtMs === undefined ? [] : [`; none after ${seconds(age.stoppedAtMs)}: ${age.reason}`]),
  ].join('');
};

/**
 * Whether the calls that failed as a whole are what a failure hint should explain: they stopped the run, or nothing
 * was written at all. A run a signal stopped after writing records had at most an incidental failure.
 */
export const failedCallsStoppedRun = (report: LoadReport): boolean =>
  report.written === 0 || (report.stoppedEarly !== undefined && report.interrupted === undefined);

/** The summary printed at the end of a run. */
export const formatLoadSummary = (report: LoadReport, shardsReport: boolean): string => {
  const otherFailures = Object.entries(report.failed);
  const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;
  // The run sends ⌊rate × seconds⌋ records, so what it can attempt is that many over the run (1 record/s of a 1.5).
  const attainable = report.requested.records / report.requested.seconds;
  const behind = report.attemptedRate < SUSTAINED_SHARE * attainable;
  const seconds = report.elapsedMs / 1000;
  const rate = (n: number) => (seconds > 0 ? n / seconds : 0).toFixed(0);
  const lines = [
    `Load test on ${report.stream}: ${records(report.requested.records)} requested at ${report.requested.rate}/s for ${report.requested.seconds} s`,
    ...(report.stoppedEarly
      ? [
          `  stopped early: ${report.stoppedEarly}${report.interrupted ? ' (a partial report: the calls answered until then)' : ''}`,
        ]
      : []),
    `  sent ${report.sent} in ${report.requests} PutRecords calls over ${seconds.toFixed(1)} s (${report.attemptedRate.toFixed(0)} records/s attempted)`,
    ...(behind && !report.stoppedEarly
      ? [
          `  the client could not send at the requested rate: it attempted ${report.attemptedRate.toFixed(0)} records/s of ${Number(attainable.toFixed(1))} (this machine, or the calls' latency, is the limit, not the stream)`,
        ]
      : []),
    `  written ${report.written} (${report.achievedRate.toFixed(0)} records/s achieved)`,
    `  throttled ${report.throttled} (${THROTTLED_NAME}; reported, not retried)`,
    ...(otherFailures.length > 0
      ? [`  failed otherwise: ${otherFailures.map(([code, n]) => `${code} ${n}`).join(', ')}`]
      : []),
    iteratorAgeLine(report.iteratorAge),
  ];
  if (shardsReport) {
    lines.push('  per shard:');
    for (const [shardId, counts] of Object.entries(report.shards).sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(
        `    ${shardId}: written ${counts.written} (${rate(counts.written)} records/s), throttled ${counts.throttled}`,
      );
    }
  }
  return lines.join('\n');
};

const THROTTLED_NAME = 'ProvisionedThroughputExceededException';
/** Below this share of the requested rate, the summary says the client fell behind. */
const SUSTAINED_SHARE = 0.9;
