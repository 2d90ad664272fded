import { parseFlags } from '#scripts/lib/flags.ts';

/** The options of `npm run bench`. */
export const BENCH_USAGE = `usage: npm run bench [-- --only 1,5] [--quick] [--out DIR]

  --only IDS   run only these benchmarks (comma-separated ids, 1 to 5); the others are left out of the results
  --quick      shorter timed runs: benchmark 3 for 10 s, benchmark 4 with 2,000 records (same as BENCH_QUICK=1)
  --out DIR    where results.json, results.md and results.svg are written; made if missing. Default: bench,
               the results the README and docs/performance.md quote, for a full run of the sizes the benchmarks
               are specified for; bench/partial for any other run (--only, --quick, BENCH_QUICK,
               BENCH_PIPELINE_SECONDS or BENCH_RECOVERY_RECORDS), so that it never replaces them`;

/** Where a full run writes its results, and where any other run does unless told. */
export const FULL_RUN_OUT = 'bench';
export const PARTIAL_RUN_OUT = 'bench/partial';

/** The environment variables that change what a benchmark measures (a run with any of them set is partial). */
const SIZING_VARIABLES = ['BENCH_QUICK', 'BENCH_PIPELINE_SECONDS', 'BENCH_RECOVERY_RECORDS'] as const;

export class BenchInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchInputError';
  }
}

export interface BenchOptions {
  only?: number[];
  quick: boolean;
  out: string;
}

/** Reads the command line; throws BenchInputError naming what is wrong, before any benchmark runs. */
export const parseBenchArgs = (
  argv: string[],
  knownIds: number[],
  env: Record<string, string | undefined> = process.env,
): BenchOptions => {
  let values: { only?: string; quick?: boolean; out?: string };
  try {
    ({ values } = parseFlags({
      args: argv,
      options: {
        only: { type: 'string' },
        quick: { type: 'boolean', default: false },
        out: { type: 'string' },
      },
    }));
  } catch (error) {
    throw new BenchInputError((error as Error).message);
  }
  if (values.out === '') throw new BenchInputError('--out needs a folder');
  const partial =
    values.only !== undefined ||
    values.quick === true ||
    SIZING_VARIABLES.some((name) => (env[name] ?? '') !== '');
  const out = values.out ?? (partial ? PARTIAL_RUN_OUT : FULL_RUN_OUT);
  if (values.only === undefined) return { quick: values.quick ?? false, out };
  const parts = values.only.split(',').map((part) => part.trim());
  const only = parts.map(Number);
  const unknown = parts.filter((part, index) => part === '' || !knownIds.includes(only[index]!));
  if (unknown.length > 0) {
    throw new BenchInputError(
      `--only takes benchmark ids among ${knownIds.join(', ')}; got ${unknown.map((part) => JSON.stringify(part)).join(', ')}`,
    );
  }
  return { only: [...new Set(only)], quick: values.quick ?? false, out };
};
