import { KinesisClient, type KinesisClientConfig, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { describe, expect, it } from 'vitest';
import { idealMillis, makeRecords } from '#bench/benchmarks/consumer-throughput.ts';
import {
  bareIngest,
  constantLatencyKinesis,
  EVENT_BYTES,
  eventOfSize,
} from '#bench/benchmarks/ingest-cost.ts';
import { BenchInputError, parseBenchArgs } from '#bench/lib/options.ts';
import { atLeast, atMost, type BenchResults } from '#bench/lib/results.ts';
import { median } from '#bench/lib/stats.ts';
import { ratioBars } from '#bench/report/charts.ts';
import { formatJudged, formatMarkdown, formatNumber } from '#bench/report/markdown.ts';
import { lineChartSvg, niceMax } from '#bench/report/svg.ts';
import { validateCloudEvent } from '#shared/events/cloudevent.ts';

const results = (): BenchResults => ({
  generatedAt: '2026-11-27T12:00:00.000Z',
  machine: { cpu: 'Test CPU', cores: 2, memoryGiB: 24, node: '24.0.0', os: 'Linux 6' },
  benchmarks: [
    {
      id: 1,
      title: 'Ingest cost per event',
      status: 'ran',
      rows: [
        {
          case: 'batch of 100',
          measured: { label: 'handler CPU per event', value: 12.5, unit: 'µs' },
          baseline: { label: 'bare', value: 5, unit: 'µs' },
          ratio: { value: 2.5, label: '× baseline' },
          target: atMost(2.5, 2, '≤ 2× baseline', 'ratio'),
        },
      ],
      notes: ['CPU time from process.cpuUsage.'],
    },
    {
      id: 2,
      title: 'Consumer throughput',
      status: 'ran',
      rows: [
        {
          case: '10,000 records',
          measured: { label: 'consumer wall time', value: 3500, unit: 'ms' },
          baseline: { label: 'ideal', value: 3125, unit: 'ms' },
          ratio: { value: 3125 / 3500, label: 'of ideal' },
          target: atLeast(3125 / 3500, 0.8, '≥ 0.8 of ideal', 'ratio'),
        },
        {
          case: '10,000 records',
          measured: { label: 'consumer wall time', value: 3500, unit: 'ms' },
          baseline: { label: 'naive sequential loop', value: 52_000, unit: 'ms' },
          ratio: { value: 52_000 / 3500, label: '× faster than sequential' },
        },
      ],
      notes: [],
    },
    { id: 3, title: 'Pipeline throughput', status: 'not run', reason: 'no module yet', rows: [], notes: [] },
    {
      id: 5,
      title: 'Cold start',
      status: 'ran',
      rows: [
        {
          case: 'IngestFunction',
          measured: { label: 'bundle', value: 350, unit: 'KiB' },
          target: atMost(350, 300, '≤ 300 KiB', 'measured'),
          detail: 'largest dependency: @smithy/core',
        },
      ],
      notes: [],
    },
  ],
});

describe('Bench: arithmetic', () => {
  it('takes the median of odd and even counts, and refuses none', () => {
    // Act / Assess
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });

  it('computes the latency-bound ideal as records × latency ÷ concurrency', () => {
    // 10,000 records × 5 ms ÷ 16 keys at once = 3,125 ms.
    expect(idealMillis(10_000, 5, 16)).toBe(3125);
  });

  it('judges targets at their limits', () => {
    // Act / Assess
    expect(atMost(2, 2, '≤ 2×', 'ratio').met).toBe(true);
    expect(atMost(2.01, 2, '≤ 2×', 'ratio').met).toBe(false);
    expect(atLeast(0.8, 0.8, '≥ 0.8', 'ratio').met).toBe(true);
    expect(atLeast(0.79, 0.8, '≥ 0.8', 'ratio')).toEqual({
      text: '≥ 0.8',
      met: false,
      appliesTo: 'ratio',
      limit: 0.8,
    });
  });

  it('spreads 10,000 records evenly over 1,000 keys in sequence-number order', () => {
    // Act
    const records = makeRecords(10_000, 1_000);
    // Assess
    const perKey = new Map<string, number>();
    for (const r of records) perKey.set(r.partitionKey, (perKey.get(r.partitionKey) ?? 0) + 1);
    expect(perKey.size).toBe(1_000);
    expect([...perKey.values()].every((n) => n === 10)).toBe(true);
    expect(records[1]!.sequenceNumber > records[0]!.sequenceNumber).toBe(true);
  });
});

describe('Bench: ingest cost fixtures', () => {
  it('makes valid CloudEvents of exactly 1 KB', () => {
    // Act
    const events = [eventOfSize(0), eventOfSize(99_999)];
    // Assess
    for (const event of events) {
      expect(Buffer.byteLength(JSON.stringify(event))).toBe(EVENT_BYTES);
      expect(validateCloudEvent(event, 0)).toEqual([]);
    }
  });

  it('encodes in the baseline exactly what the stream would carry', () => {
    // Prepare
    const events = [eventOfSize(1), eventOfSize(2)];
    // Act
    const encoded = bareIngest(JSON.stringify(events));
    // Assess: each event's own text, as the handler writes it.
    expect(encoded.map((b) => Buffer.from(b, 'base64').toString('utf8'))).toEqual(
      events.map((event) => JSON.stringify(event)),
    );
  });

  it('encodes a single event in the baseline as its own text, spacing kept', () => {
    // Prepare
    const text = JSON.stringify(eventOfSize(1), null, 1);
    // Act
    const encoded = bareIngest(`  ${text}\n`);
    // Assess
    expect(encoded.map((b) => Buffer.from(b, 'base64').toString('utf8'))).toEqual([text]);
  });

  it('answers PutRecords through a real SDK client with one success per entry', async () => {
    // Prepare
    const client = new KinesisClient({
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      endpoint: 'http://kinesis.test.invalid',
      requestHandler: constantLatencyKinesis(0) as unknown as KinesisClientConfig['requestHandler'],
    });
    const Records = ['a', 'b', 'c'].map((key) => ({ PartitionKey: key, Data: Buffer.from(key) }));
    // Act
    const answer = await client.send(new PutRecordsCommand({ StreamName: 's', Records }));
    // Assess
    expect(answer.FailedRecordCount).toBe(0);
    expect(answer.Records).toHaveLength(3);
    expect(answer.Records?.every((r) => r.ShardId === 'shardId-000000000000' && r.SequenceNumber)).toBe(true);
    client.destroy();
  });
});

describe('Bench: report', () => {
  it('formats numbers with the precision a table needs', () => {
    // Act / Assess
    expect(formatNumber(52_000)).toBe('52,000');
    expect(formatNumber(14.857)).toBe('14.9');
    expect(formatNumber(2.5)).toBe('2.50');
    expect(formatNumber(0.892857)).toBe('0.893');
  });

  it('shows a judged figure with the digits its verdict needs, and no more', () => {
    // Prepare
    const atLeastSeven = atLeast(0.69996, 0.7, '≥ 0.7', 'ratio');
    const withinLimit = atMost(300.4, 300, '≤ 300 KiB', 'measured');
    // Act / Assess
    expect(formatJudged(0.69996, atLeastSeven)).toBe('0.69996');
    expect(formatJudged(300.4, withinLimit)).toBe('300.4');
    expect(formatJudged(0.71234, atLeast(0.71234, 0.7, '≥ 0.7', 'ratio'))).toBe('0.712');
    expect(formatJudged(0.7, atLeast(0.7, 0.7, '≥ 0.7', 'ratio'))).toBe('0.700');
    expect(formatJudged(0.69996, undefined)).toBe('0.700');
  });

  it('writes one table row per result, the machine, and benchmarks not run with their reason', () => {
    // Act
    const markdown = formatMarkdown(results());
    // Assess
    expect(markdown).toContain('Test CPU, 2 cores, 24 GiB, Node 24.0.0, Linux 6');
    expect(markdown).toContain(
      '| 1 | Ingest cost per event | batch of 100 | 12.5 µs (handler CPU per event) | 5.00 µs (bare) | 2.50 × baseline | ≤ 2× baseline | not met |',
    );
    expect(markdown).toContain(
      '| 2 | Consumer throughput | 10,000 records | 3,500 ms (consumer wall time) | 3,125 ms (ideal) | 0.893 of ideal | ≥ 0.8 of ideal | met |',
    );
    expect(markdown).toContain('14.9 × faster than sequential | — | — |');
    expect(markdown).toContain('| 3 | Pipeline throughput | — | not run: no module yet | — | — | — | — |');
    expect(markdown).toContain('350 KiB (bundle); largest dependency: @smithy/core');
    expect(markdown).toContain('- 1. Ingest cost per event: CPU time from process.cpuUsage.');
  });

  it('names the command that made the results, so that a quick or partial run says so', () => {
    // Prepare
    const quick = { ...results(), command: 'npm run bench -- --quick --only 2,5' };
    // Act / Assess
    expect(formatMarkdown(quick)).toContain('Generated by `npm run bench -- --quick --only 2,5` on ');
    expect(formatMarkdown(results())).toContain('Generated by `npm run bench` on ');
  });

  it('charts every row that carries a target: ratios as they are, measured values divided by their limit', () => {
    // Act
    const bars = ratioBars(results());
    // Assess
    expect(bars).toEqual([
      { label: '1. batch of 100 (× baseline)', value: 2.5, target: 2, met: false },
      { label: '2. 10,000 records (of ideal)', value: 3125 / 3500, target: 0.8, met: true },
      { label: '5. IngestFunction (bundle ÷ limit)', value: 350 / 300, target: 1, met: false },
    ]);
  });

  it('shortens a long case so that the whole label fits beside the chart', () => {
    // Prepare
    const long = results();
    long.benchmarks[0]!.rows[0]!.case =
      '60 s, 4 posters × 100 events per POST, with a backlog held under 8,000';
    // Act
    const [bar] = ratioBars(long);
    // Assess
    expect(bar!.label.length).toBe(52);
    expect(bar!.label).toMatch(/^1\. 60 s, 4 posters .*… \(× baseline\)$/);
  });

  it('rounds axis maxima up to a value that divides into 5 round ticks, leaving at most a third of the axis empty', () => {
    // Act / Assess: a 10 s load test's last sample at 10.18 s gets an axis to 15 s, not 20.
    expect([
      niceMax(0),
      niceMax(0.7),
      niceMax(1),
      niceMax(1.2),
      niceMax(3),
      niceMax(7),
      niceMax(10.18),
      niceMax(1800),
    ]).toEqual([1, 0.75, 1, 1.5, 3, 7.5, 15, 2000]);
  });

  it('places line points on the plot and names a series without data as not available', () => {
    // Prepare: 800 × 360 with margins 70/70/40/60 → plot 660 × 260 from (70, 40); x up to 10, y up to 100.
    const svg = lineChartSvg({
      title: 'T',
      xLabel: 's',
      series: [
        {
          name: 'rate',
          unit: 'records/s',
          axis: 'left',
          color: '#00f',
          points: [
            [0, 0],
            [10, 100],
          ],
        },
        { name: 'iterator age', unit: 'ms', axis: 'right', color: '#0f0', points: [] },
      ],
    });
    // Assess: (0, 0) → (70, 300); (10, 100) → (730, 40).
    expect(svg).toContain('points="70.0,300.0 730.0,40.0"');
    expect(svg).toContain('iterator age: not available');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  });
});

describe('Bench: command line', () => {
  const ids = [1, 2, 3, 4, 5];

  it('takes --only, --quick and --out, with defaults for what is not given', () => {
    expect(parseBenchArgs([], ids, {})).toEqual({ quick: false, out: 'bench' });
    expect(parseBenchArgs(['--only', '5, 1,5', '--quick', '--out', '/tmp/b'], ids, {})).toEqual({
      only: [5, 1],
      quick: true,
      out: '/tmp/b',
    });
  });

  it.each([
    [['--only', '1'], {}],
    [['--quick'], {}],
    [[], { BENCH_QUICK: '1' }],
    [[], { BENCH_PIPELINE_SECONDS: '5' }],
    [[], { BENCH_RECOVERY_RECORDS: '500' }],
  ])(
    'writes a partial run (%j, %j) to bench/partial unless told, never over the quoted results',
    (argv, env) => {
      // Act
      const options = parseBenchArgs(argv, ids, env);
      // Assess
      expect(options.out).toBe('bench/partial');
      expect(parseBenchArgs([...argv, '--out', 'bench'], ids, env).out).toBe('bench');
    },
  );

  it.each([
    [['--only', '9'], '--only takes benchmark ids among 1, 2, 3, 4, 5; got "9"'],
    [['--only', '1,,2'], '--only takes benchmark ids among 1, 2, 3, 4, 5; got ""'],
    [['--only', 'x'], '--only takes benchmark ids among 1, 2, 3, 4, 5; got "x"'],
    [['--out', ''], '--out needs a folder'],
    [['--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j before any benchmark runs', (argv, message) => {
    expect(() => parseBenchArgs(argv, ids)).toThrow(new BenchInputError(message));
  });
});
