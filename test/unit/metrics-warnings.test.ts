import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'WARN');
vi.stubEnv('POWERTOOLS_SERVICE_NAME', 'metrics-test');

const lines: string[] = [];
let metrics: typeof import('#shared/powertools/metrics.ts').metrics;
let logger: typeof import('#shared/powertools/logger.ts').logger;

beforeAll(async () => {
  // Powertools writes through a Console of its own on process.stdout and process.stderr; the lines are kept here.
  for (const stream of [process.stdout, process.stderr]) {
    vi.spyOn(stream, 'write').mockImplementation((chunk: unknown) => {
      lines.push(String(chunk));
      return true;
    });
  }
  ({ metrics } = await import('#shared/powertools/metrics.ts'));
  ({ logger } = await import('#shared/powertools/logger.ts'));
});

beforeEach(() => {
  lines.length = 0;
  logger.setLogLevel('WARN');
});

afterAll(() => {
  vi.restoreAllMocks();
});

const logLines = (text: string) =>
  lines.filter((line) => line.includes(text)).map((line) => JSON.parse(line));

describe('Powertools: metrics warnings', () => {
  it('writes nothing at WARN for an invocation without metrics (a reprocess status request publishes none)', () => {
    // Act
    metrics.publishStoredMetrics();
    // Assess
    expect(lines).toEqual([]);
  });

  it("writes it as one structured DEBUG line of the function's logger when DEBUG is on", () => {
    // Prepare
    logger.setLogLevel('DEBUG');
    // Act
    metrics.publishStoredMetrics();
    // Assess
    const written = logLines('No application metrics to publish');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ level: 'DEBUG', service: 'metrics-test' });
  });

  it('keeps its other warnings at WARN', () => {
    // Act: a dimension without a value.
    metrics.addDimension('stage', '');
    // Assess
    const written = logLines("The dimension stage doesn't meet the requirements");
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ level: 'WARN', service: 'metrics-test' });
  });
});
