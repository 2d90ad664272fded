import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'WARN');
vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'metrics-test');

const lines: string[] = [];
let metrics: typeof import('#shared/powertools/metrics.ts').metrics;

beforeAll(async () => {
  // Powertools writes through a Console of its own on process.stdout and process.stderr; the lines are kept here.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
  }
  ({ metrics } = await import('#shared/powertools/metrics.ts'));
});

afterAll(() => {
  vi.restoreAllMocks();
});

describe('Powertools: metrics warnings', () => {
  it("writes an invocation without metrics as one structured WARN line of the function's logger", () => {
    // Act
    metrics.publishStoredMetrics();
    // Assess
    const warnings = lines.filter((line) => line.includes('No application metrics to publish'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ level: 'WARN', service: 'metrics-test' });
  });
});
