import { lineChartSvg } from '#bench/report/svg.ts';
import type { LoadReport } from './load-test.ts';

/** `load-2026-11-27T19-10-00-000Z`: a file name from the run's start, safe on every file system. */
export const reportBaseName = (startedAt: string): string =>
  `load-${startedAt.replaceAll(':', '-').replace('.', '-')}`;

/** Achieved rate per second and the iterator age over time, on one chart. */
export const loadChartSvg = (report: LoadReport): string =>
  lineChartSvg({
    title: `Load test: ${report.requested.rate} records/s for ${report.requested.seconds} s into ${report.stream}`,
    xLabel: 'seconds since start',
    // The run's own length (longer when the sends fell behind), not a round value past it.
    xMax: Math.max(report.requested.seconds, report.perSecond.length, report.elapsedMs / 1000),
    series: [
      {
        name: 'written',
        unit: 'records/s',
        axis: 'left',
        color: '#1565c0',
        points: report.perSecond.map((s) => [s.second + 0.5, s.written]),
      },
      {
        name: 'throttled',
        unit: 'records/s',
        axis: 'left',
        color: '#c62828',
        points: report.perSecond.map((s) => [s.second + 0.5, s.throttled]),
      },
      {
        name: 'iterator age',
        unit: 'ms',
        axis: 'right',
        color: '#2e7d32',
        points: report.iteratorAge.samples.map((s) => [Math.max(0, s.atMs) / 1000, s.ageMs]),
      },
    ],
  });

/** The summary printed at the end of a run. */
export const formatLoadSummary = (report: LoadReport, shardsReport: boolean): string => {
  const otherFailures = Object.entries(report.failed);
  const records = (n: number) => `${n} record${n === 1 ? '' : 's'}`;
  // The run sends ⌊rate × seconds⌋ records, so what it can attempt is that many over the run (1 record/s of a 1.5).
  const attainable = report.requested.records / report.requested.seconds;
  const behind = report.attemptedRate < SUSTAINED_SHARE * attainable;
  const lines = [
    `Load test on ${report.stream}: ${records(report.requested.records)} requested at ${report.requested.rate}/s for ${report.requested.seconds} s`,
    ...(report.stoppedEarly ? [`  stopped early: ${report.stoppedEarly}`] : []),
    `  sent ${report.sent} in ${report.requests} PutRecords calls over ${(report.elapsedMs / 1000).toFixed(1)} s (${report.attemptedRate.toFixed(0)} records/s attempted)`,
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
    report.iteratorAge.available
      ? `  iterator age: ${report.iteratorAge.samples.length} sample(s) from ${report.iteratorAge.source}, highest ${Math.max(...report.iteratorAge.samples.map((s) => s.ageMs))} ms`
      : `  iterator age: not available (${report.iteratorAge.reason ?? 'no source'})`,
  ];
  if (shardsReport) {
    lines.push('  per shard:');
    for (const [shardId, counts] of Object.entries(report.shards).sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`    ${shardId}: written ${counts.written}, throttled ${counts.throttled}`);
    }
  }
  return lines.join('\n');
};

const THROTTLED_NAME = 'ProvisionedThroughputExceededException';
/** Below this share of the requested rate, the summary says the client fell behind. */
const SUSTAINED_SHARE = 0.9;
