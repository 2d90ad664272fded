import { parseFlags } from '#scripts/lib/flags.ts';

/** The options of `npm run bench`. */
export const BENCH_USAGE = `usage: npm run bench [-- --only 1,5] [--quick] [--out DIR]

  --only IDS   run only these benchmarks (comma-separated ids, 1 to 5); the others are left out of the results
  --quick      shorter timed runs: benchmark 3 for 10 s, benchmark 4 with 2,000 records (same as BENCH_QUICK=1)
  --out DIR    where results.json, results.md and results.svg are written (default: bench); made if missing`;

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
export const parseBenchArgs = (argv: string[], knownIds: number[]): BenchOptions => {
  let values: { only?: string; quick?: boolean; out?: string };
  try {
    ({ values } = parseFlags({
      args: argv,
      options: {
        only: { type: 'string' },
        quick: { type: 'boolean', default: false },
        out: { type: 'string', default: 'bench' },
      },
    }));
  } catch (error) {
    throw new BenchInputError((error as Error).message);
  }
  if (values.out === '') throw new BenchInputError('--out needs a folder');
  if (values.only === undefined) return { quick: values.quick ?? false, out: values.out ?? 'bench' };
  const parts = values.only.split(',').map((part) => part.trim());
  const only = parts.map(Number);
  const unknown = parts.filter((part, index) => part === '' || !knownIds.includes(only[index]!));
  if (unknown.length > 0) {
    throw new BenchInputError(
      `--only takes benchmark ids among ${knownIds.join(', ')}; got ${unknown.map((part) => JSON.stringify(part)).join(', ')}`,
    );
  }
  return { only: [...new Set(only)], quick: values.quick ?? false, out: values.out ?? 'bench' };
};
