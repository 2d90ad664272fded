import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpRoute, httpApiThrottling, type RunningHttpApi, startHttpApi } from '#local/http-api.ts';
import { startRuntime } from '#local/runtime.ts';
import { planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';

/**
 * The local HTTP API throttles as API Gateway does, with the limits template.yaml gives its route after parameter
 * overrides: the burst passes at once, the requests over it are answered 429 without the function being invoked
 * or their body being read, and the bucket refills at the rate.
 */

const fakeClock = () => {
  let now = 1_000_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
};

/** POST /events's limits in template.yaml, planned as the runtime plans them, with these parameter overrides. */
const ingestRouteLimits = (parameterOverrides: Record<string, string>) => {
  const template = loadTemplate('template.yaml');
  const stack = planStack(template, {
    parameterOverrides,
    region: 'us-east-1',
    accountId: '000000000000',
    stackName: 'local',
    endpoint: 'http://127.0.0.1:4566',
  });
  const fn = stack.functions.IngestFunction!;
  return httpApiThrottling(stack, template).limitsOf(
    fn,
    fn.events.find((event) => event.type === 'HttpApi')!,
  );
};

let api: RunningHttpApi | undefined;
const invoked: string[] = [];

afterEach(async () => {
  await api?.close();
  api = undefined;
  invoked.length = 0;
});

const startApi = async (throttle: HttpRoute['throttle'], clock?: { now(): number }) => {
  api = await startHttpApi(
    [
      {
        method: 'POST',
        path: '/events',
        functionName: 'IngestFunction',
        ...(throttle ? { throttle } : {}),
        invoke: async (event) => {
          invoked.push(event.body ?? '');
          return { requestId: 'r', payload: { statusCode: 202, body: '{"accepted":1}' }, durationMs: 1 };
        },
      },
    ],
    { port: 0, ...(clock ? { clock } : {}) },
  );
  return api;
};

const post = (body: string) =>
  fetch(`${api!.endpoint}/events`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });

/** Sends `n` requests at once; the answers in the order sent, with their bodies and content types. */
const burst = async (n: number, label: string) =>
  Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const response = await post(`{"n":"${label}-${i}"}`);
      return {
        status: response.status,
        type: response.headers.get('content-type'),
        body: await response.text(),
      };
    }),
  );

describe('Local HTTP API: throttling (API Gateway HTTP API)', () => {
  it('lets the burst through, answers 429 to the rest without invoking, and refills at the rate', async () => {
    // Prepare: rate 2/s and burst 3, through template.yaml's parameters.
    const clock = fakeClock();
    const limits = ingestRouteLimits({ ApiThrottlingRateLimit: '2', ApiThrottlingBurstLimit: '3' });
    await startApi(limits, clock);
    // Act
    const first = await burst(5, 'first');
    clock.advance(500);
    const afterHalfASecond = await burst(2, 'second');
    // Assess
    expect(limits).toMatchObject({ rateLimit: 2, burstLimit: 3 });
    expect(first.filter((answer) => answer.status === 202)).toHaveLength(3);
    const throttled = first.filter((answer) => answer.status === 429);
    expect(throttled).toHaveLength(2);
    for (const answer of throttled) {
      expect(answer.type).toBe('application/json');
      expect(JSON.parse(answer.body)).toEqual({ message: 'Too Many Requests' });
    }
    expect(afterHalfASecond.map((answer) => answer.status).sort()).toEqual([202, 429]);
    // Only the requests let through reached the function.
    expect(invoked).toHaveLength(4);
  });

  it('passes again once 1/rate seconds have gone by on the real clock', async () => {
    // Prepare: a bucket of one, refilled twice a second.
    const rateLimit = 2;
    await startApi({ rateLimit, burstLimit: 1, source: 'test' });
    const first = await post('{}');
    // Act: asked until throttled (at once, unless a request takes 1/rate seconds, which a busy machine may take at
    // 100 ms but not at 500), then once more after 1.5/rate seconds.
    let throttled: Response | undefined;
    for (let i = 0; i < 50 && !throttled; i++) {
      const response = await post('{}');
      if (response.status === 429) throttled = response;
      else await response.arrayBuffer();
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500 / rateLimit));
    const after = await post('{}');
    // Assess
    expect(first.status).toBe(202);
    expect(throttled?.status).toBe(429);
    expect(after.status).toBe(202);
  });

  it('answers a throttled request before its body has come, and without invoking', async () => {
    // Prepare: a burst of 0 throttles everything.
    await startApi({ rateLimit: 1, burstLimit: 0, source: 'test' });
    const url = new URL(api!.endpoint);
    // Act: announce 1 MB, send 10 bytes, and wait for the answer without sending the rest.
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: '/events',
          method: 'POST',
          headers: { 'content-length': String(1024 * 1024), 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
          );
        },
      );
      req.on('error', reject);
      req.write('0123456789');
    });
    // Assess
    expect(answer).toEqual({ status: 429, body: '{"message":"Too Many Requests"}' });
    expect(invoked).toHaveLength(0);
  });
});

describe('Local runtime: HTTP API throttling settings', () => {
  it('refuses at start, naming the setting, a template whose throttling limit is not a number ≥ 0', async () => {
    // Prepare: template.yaml with IngestApi's rate limit written as a word.
    const folder = mkdtempSync(join(tmpdir(), 'throttle-template-'));
    const templatePath = join(folder, 'template.yaml');
    const text = readFileSync('template.yaml', 'utf8');
    const broken = text.replace(
      'ThrottlingRateLimit: !Ref ApiThrottlingRateLimit',
      'ThrottlingRateLimit: fast',
    );
    writeFileSync(templatePath, broken);
    // Act
    const started = startRuntime({ templatePath, apiPort: 0, endpointPort: 0, log: () => undefined });
    // Assess
    try {
      expect(broken).not.toBe(text);
      await expect(started).rejects.toThrow(
        'IngestApi.DefaultRouteSettings.ThrottlingRateLimit: must be a number ≥ 0 (requests per second), got "fast"',
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
