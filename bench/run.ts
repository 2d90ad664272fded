import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BENCHMARKS, PENDING } from '#bench/benchmarks/index.ts';
import { BENCH_USAGE, BenchInputError, type BenchOptions, parseBenchArgs } from '#bench/lib/options.ts';
import type { BenchmarkReport, BenchResults } from '#bench/lib/results.ts';
import { resultsChartSvg } from '#bench/report/charts.ts';
import { machineInfo } from '#bench/report/machine.ts';
import { formatMarkdown } from '#bench/report/markdown.ts';

/**
 * `npm run bench [-- --only 1,5 --out bench --quick]`: runs the benchmarks one after another in this process, each
 * against its baseline measured in the same run, and writes results.json, results.md and results.svg.
 */
const argv = process.argv.slice(2);
if (argv.some((arg) => arg === '--help' || arg === '-h')) {
  console.log(BENCH_USAGE);
  process.exit(0);
}
let values: BenchOptions;
try {
  values = parseBenchArgs(
    argv,
    [...BENCHMARKS, ...PENDING].map((benchmark) => benchmark.id),
  );
} catch (error) {
  if (!(error instanceof BenchInputError)) throw error;
  console.error(`bench: ${error.message}\n${BENCH_USAGE}`);
  process.exit(2);
}
const only = values.only;
const outDir = resolve(values.out);
// Made before the benchmarks run, so that minutes of measuring are never lost to a missing folder at the end.
mkdirSync(outDir, { recursive: true });
// --quick shortens the timed benchmarks (the same as BENCH_QUICK=1).
if (values.quick) process.env.BENCH_QUICK = '1';

const reports: BenchmarkReport[] = [];
for (const benchmark of BENCHMARKS) {
  if (only && !only.includes(benchmark.id)) continue;
  const log = (message: string) => console.log(`  ${benchmark.id}. ${message}`);
  console.log(`${benchmark.id}. ${benchmark.title}`);
  const started = performance.now();
  try {
    const { rows, notes } = await benchmark.run({ log });
    reports.push({
      id: benchmark.id,
      title: benchmark.title,
      status: 'ran',
      rows,
      notes,
      durationMs: performance.now() - started,
    });
  } catch (error) {
    console.error(`  ${benchmark.id}. failed: ${(error as Error).stack}`);
    reports.push({
      id: benchmark.id,
      title: benchmark.title,
      status: 'failed',
      reason: (error as Error).message,
      rows: [],
      notes: [],
      durationMs: performance.now() - started,
    });
  }
}
for (const pending of PENDING) {
  if (only && !only.includes(pending.id)) continue;
  reports.push({
    id: pending.id,
    title: pending.title,
    status: 'not run',
    reason: pending.reason,
    rows: [],
    notes: [],
  });
}
reports.sort((a, b) => a.id - b.id);

const results: BenchResults = {
  generatedAt: new Date().toISOString(),
  command: `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
  machine: machineInfo(),
  benchmarks: reports,
};
const markdown = formatMarkdown(results);
writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(join(outDir, 'results.md'), markdown);
writeFileSync(join(outDir, 'results.svg'), resultsChartSvg(results));
console.log(`\n${markdown}`);
console.log(`wrote ${join(values.out, 'results.json')}, results.md and results.svg`);
if (reports.some((r) => r.status === 'failed')) process.exitCode = 1;
