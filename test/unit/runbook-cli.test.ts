import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/** Runs one of the runbook's commands; bad flags must fail before anything is called. */
const run = async (script: string, args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [script, ...args], {
      env: { ...process.env, AWS_REGION: 'us-east-1' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

// An endpoint nothing listens on: reaching it would fail differently from the failures expected here.
const FROM = ['--from', '2026-11-27T10:00:00Z', '--endpoint', 'http://127.0.0.1:9'];

describe('Runbook commands: numeric flags are checked before the function is called', () => {
  it.each([
    [['--rate', 'abc'], "--rate must be a number, got 'abc'"],
    [['--rate', '0'], '--rate must be at least 1, got 0'],
    [['--rate', '100001'], '--rate must be at most 100000, got 100001'],
    [['--rate', '2.5'], '--rate must be a whole number, got 2.5'],
    [['--poll', '10'], '--poll must be at least 50, got 10'],
  ])('npm run reprocess -- %j fails with exit status 2', async (flags, message) => {
    // Act
    const result = await run('scripts/reprocess.ts', [...FROM, ...flags]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`reprocess failed: ${message}`);
  });

  it.each([
    [['--batch', '0'], '--batch must be at least 1, got 0'],
    [['--max', 'many'], "--max must be a number, got 'many'"],
    [['--max', '1.5'], '--max must be a whole number, got 1.5'],
  ])('npm run replay -- %j fails with exit status 2', async (flags, message) => {
    // Act
    const result = await run('scripts/replay.ts', ['--endpoint', 'http://127.0.0.1:9', ...flags]);
    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });
});

describe('Runbook commands: targets and help', () => {
  it.each([
    ['scripts/replay.ts', []],
    ['scripts/reprocess.ts', ['--from', '2026-11-27T10:00:00Z']],
  ])(
    '%s refuses --stack with --endpoint, and --region without --stack, with exit status 2',
    async (script, args) => {
      // Act
      const both = await run(script, [...args, '--stack', 'pipeline', '--endpoint', 'http://127.0.0.1:9']);
      const regionAlone = await run(script, [
        ...args,
        '--region',
        'eu-west-1',
        '--endpoint',
        'http://127.0.0.1:9',
      ]);
      // Assess
      expect(both.code).toBe(2);
      expect(both.stderr).toContain('--endpoint and --stack exclude each other');
      expect(regionAlone.code).toBe(2);
      expect(regionAlone.stderr).toContain('--region applies to --stack only');
    },
  );

  it.each([
    ['scripts/replay.ts', 'usage: npm run replay'],
    ['scripts/reprocess.ts', 'usage: npm run reprocess'],
    ['scripts/load.ts', 'npm run load'],
    ['scripts/plan.ts', 'npm run plan'],
  ])('%s --help shows its usage and exits 0', async (script, usage) => {
    // Act
    const result = await run(script, ['--help']);
    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(usage);
  });
});
