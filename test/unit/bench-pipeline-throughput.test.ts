import { describe, expect, it } from 'vitest';
import {
  BacklogGate,
  baselineSeconds,
  bracketedRate,
  ceilingRatio,
  drive,
  pipelineSeconds,
} from '#bench/benchmarks/pipeline-throughput.ts';

describe('Bench: pipeline throughput arithmetic', () => {
  it('compares the pipeline with the slower of the two raw rates', () => {
    // Prepare
    const pipeline = 700;

    // Act
    const dynamoSlower = ceilingRatio(pipeline, 12_000, 1_000);
    const kinesisSlower = ceilingRatio(pipeline, 800, 1_000);

    // Assess
    expect(dynamoSlower).toEqual({ ceiling: 1_000, slower: 'dynalite conditional PutItem', ratio: 0.7 });
    expect(kinesisSlower).toEqual({ ceiling: 800, slower: 'kinesalite PutRecords', ratio: 0.875 });
  });

  it('reports a zero ratio when a raw rate is zero', () => {
    // Act
    const result = ceilingRatio(500, 0, 1_000);

    // Assess
    expect(result.ratio).toBe(0);
  });

  it('runs 60 s by default, 10 s when quick, and the explicit duration when one is given', () => {
    // Act
    const byDefault = pipelineSeconds({});
    const quick = pipelineSeconds({ BENCH_QUICK: '1' });
    const explicit = pipelineSeconds({ BENCH_QUICK: '1', BENCH_PIPELINE_SECONDS: '25' });
    const invalid = pipelineSeconds({ BENCH_PIPELINE_SECONDS: 'soon' });

    // Assess
    expect([byDefault, quick, explicit, invalid]).toEqual([60, 10, 25, 60]);
  });

  it('gives the raw baselines a quarter of the duration, between 3 s and 15 s', () => {
    // Act
    const windows = [10, 40, 60, 600].map(baselineSeconds);

    // Assess
    expect(windows).toEqual([3, 10, 15, 15]);
  });

  it('adds up every concurrent worker’s units', async () => {
    // Prepare
    let calls = 0;
    const step = async (worker: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      calls += worker + 1;
      return worker + 1;
    };

    // Act
    const { units } = await drive(0.05, 4, step);

    // Assess
    expect(calls).toBeGreaterThan(4);
    expect(units).toBe(calls);
  });

  it('holds producers while the backlog is above its limit and lets them go once the consumer catches up', async () => {
    // Prepare
    const gate = new BacklogGate(100, 1);
    gate.accepted = 150;
    gate.finished = 0;
    let released = false;
    // Act
    const waiting = gate.wait(performance.now() + 10_000).then(() => {
      released = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const heldWhileBehind = !released;
    gate.finished = 60;
    await waiting;
    // Assess
    expect(heldWhileBehind).toBe(true);
    expect(released).toBe(true);
    expect(gate.backlog).toBe(90);
  });

  it('never holds producers past the end of the run', async () => {
    // Prepare
    const gate = new BacklogGate(0, 1);
    gate.accepted = 10;
    // Act
    await gate.wait(performance.now() + 5);
    // Assess
    expect(gate.backlog).toBe(10);
    expect(gate.waitedMs).toBeGreaterThan(0);
  });

  it('takes the mean of the raw rates measured before and after the pipeline', () => {
    // Act
    const rates = [bracketedRate(1_200, 1_700), bracketedRate(1_500, 1_500)];
    // Assess
    expect(rates).toEqual([1_450, 1_500]);
  });
});
