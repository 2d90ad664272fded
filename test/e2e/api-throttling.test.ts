import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { cloudEvent } from '#test/helpers/factories.ts';
import { eventually, scanItems, startTestRuntime } from '#test/helpers/runtime.ts';

/**
 * The local runtime's HTTP API throttles POST /events with IngestApi's DefaultRouteSettings, here overridden to
 * 2 requests/s and a burst of 3: what it answers 429 never reaches the ingest function, the stream or the table.
 */

describe('E2E: the local HTTP API throttles as template.yaml says', () => {
  let runtime: LocalRuntime;
  const ingestInvocations: unknown[] = [];

  beforeAll(async () => {
    ({ runtime } = await startTestRuntime({
      parameterOverrides: { ApiThrottlingRateLimit: '2', ApiThrottlingBurstLimit: '3' },
      observe: (name, event) => {
        if (name === 'IngestFunction') ingestInvocations.push(event);
      },
    }));
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
  });

  const post = (n: number) =>
    fetch(`${runtime.apiEndpoint}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify(cloudEvent(n, { subject: `throttle-${n}`, data: { n } })),
    });

  const identities = async () =>
    (await scanItems(runtime))
      .map((item) => (item.identity as { S: string }).S)
      .filter((identity) => identity.startsWith('ce:urn%3Atest%3Aproducer:'))
      .sort();

  it('lets the burst through, answers 429 to the rest, and lets requests through again after a wait', async () => {
    // Prepare
    const sent = [0, 1, 2, 3, 4, 5];
    // Act: six at once, then one more after 1/rate seconds and a little.
    const answers = await Promise.all(
      sent.map(async (n) => {
        const response = await post(n);
        return { n, status: response.status, body: (await response.json()) as unknown };
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 600));
    const later = await post(6);
    await later.arrayBuffer();
    // Assess: the bucket holds 3; the six arrive within far less than the half second a token takes to come back.
    const accepted = answers.filter((answer) => answer.status === 202).map((answer) => answer.n);
    const throttled = answers.filter((answer) => answer.status === 429);
    expect(accepted.length).toBeGreaterThanOrEqual(3);
    expect(throttled.length).toBeGreaterThanOrEqual(1);
    expect(accepted.length + throttled.length).toBe(sent.length);
    for (const answer of throttled) expect(answer.body).toEqual({ message: 'Too Many Requests' });
    expect(later.status).toBe(202);
    // Nothing throttled reached the function, the stream or the table.
    expect(ingestInvocations).toHaveLength(accepted.length + 1);
    const expected = [...accepted, 6].map((n) => `ce:urn%3Atest%3Aproducer:${cloudEvent(n).id}`).sort();
    const landed = await eventually(
      identities,
      (found) => found.length >= expected.length,
      'the accepted events',
    );
    expect(landed).toEqual(expected);
  });
});
