import { request } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningHttpApi, startHttpApi } from '#local/http-api.ts';

/**
 * The local HTTP API on its own, with a function that answers whatever the test asks: the event it builds, the
 * answers it maps, and that no single request can take it down.
 */

let api: RunningHttpApi;
const events: APIGatewayProxyEventV2[] = [];
let answer: unknown = { statusCode: 202, body: '{}' };

beforeAll(async () => {
  api = await startHttpApi(
    [
      {
        method: 'POST',
        path: '/events',
        functionName: 'Ingest',
        invoke: async (event) => {
          events.push(event);
          return { requestId: 'r', payload: answer, durationMs: 1 };
        },
      },
    ],
    { port: 0 },
  );
});

afterAll(async () => {
  await api?.close();
});

const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
  fetch(`${api.endpoint}/events`, { method: 'POST', body, headers });

/** Sends a request with its target exactly as given, which fetch would normalise. */
const sendRaw = (to: RunningHttpApi, method: string, target: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const url = new URL(to.endpoint);
    const req = request({ host: url.hostname, port: url.port, path: target, method }, (res) =>
      res.resume().on('end', () => resolve(res.statusCode ?? 0)),
    );
    req.on('error', reject);
    req.end();
  });

describe('Local HTTP API (API Gateway HTTP API, payload format 2.0)', () => {
  it('hands JSON over as text and every other body, CloudEvents types included, as base64', async () => {
    // Prepare
    events.length = 0;
    answer = { statusCode: 202, body: '{}' };
    const body = '{"specversion":"1.0"}';
    // Act
    await post(body, { 'content-type': 'application/json; charset=utf-8' });
    await post(body, { 'content-type': 'application/cloudevents+json' });
    await post(body, { 'content-type': 'application/cloudevents-batch+json' });
    await post(body, { 'content-type': 'text/plain' });
    // Assess
    expect(events.map((event) => [event.isBase64Encoded, event.body])).toEqual([
      [false, body],
      [true, Buffer.from(body).toString('base64')],
      [true, Buffer.from(body).toString('base64')],
      [false, body],
    ]);
  });

  it('hands a JSON body that is not UTF-8 over as base64, its bytes unchanged', async () => {
    // Prepare
    events.length = 0;
    answer = { statusCode: 202, body: '{}' };
    const body = Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    // Act
    await post(body, { 'content-type': 'application/json' });
    // Assess
    expect(events.map((event) => [event.isBase64Encoded, event.body])).toEqual([
      [true, body.toString('base64')],
    ]);
  });

  it('joins a repeated header with bare commas, keeping every copy', async () => {
    // Prepare
    events.length = 0;
    // Act
    await new Promise<void>((resolve, reject) => {
      const url = new URL(`${api.endpoint}/events`);
      const req = request({ host: url.hostname, port: url.port, path: '/events', method: 'POST' }, (res) =>
        res.resume().on('end', resolve),
      );
      req.on('error', reject);
      req.setHeader('x-dup', ['a', 'b']);
      req.end('{}');
    });
    // Assess
    expect(events[0]!.headers['x-dup']).toBe('a,b');
  });

  it.each([
    ['a status that is not a number', { statusCode: 'abc' }],
    ['status 0', { statusCode: 0 }],
    ['a header value with a line break', { statusCode: 200, headers: { 'x-bad': 'a\nb' } }],
    ['a header name with a space', { statusCode: 200, headers: { 'bad name': 'x' } }],
  ])('answers 500 for a function answer with %s, and goes on serving', async (_, bad) => {
    // Prepare
    answer = bad;
    // Act
    const refused = await post('{}', { 'content-type': 'application/json' });
    answer = { statusCode: 202, body: '{"ok":true}' };
    const next = await post('{}', { 'content-type': 'application/json' });
    // Assess
    expect(refused.status).toBe(500);
    expect(await refused.json()).toEqual({ message: 'Internal Server Error' });
    expect(next.status).toBe(202);
  });

  it('survives a client that goes away in the middle of its upload', async () => {
    // Act: announce 1,000 bytes, send 10, and close the connection.
    await new Promise<void>((resolve) => {
      const url = new URL(api.endpoint);
      const req = request({
        host: url.hostname,
        port: url.port,
        path: '/events',
        method: 'POST',
        headers: { 'content-length': '1000', 'content-type': 'application/json' },
      });
      req.on('error', () => resolve());
      req.write('0123456789', () => {
        req.destroy();
        setTimeout(resolve, 50);
      });
    });
    answer = { statusCode: 202, body: '{}' };
    const next = await post('{}', { 'content-type': 'application/json' });
    // Assess
    expect(next.status).toBe(202);
  });

  it('refuses with 413, without invoking, an event over the 6 MB Lambda takes in a synchronous invoke', async () => {
    // Prepare: 5 MB of a CloudEvents batch is about 6.7 MB once API Gateway has base64-encoded it.
    events.length = 0;
    const body = Buffer.alloc(5 * 1024 * 1024, 'x');
    // Act
    const response = await post(body, { 'content-type': 'application/cloudevents-batch+json' });
    // Assess
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ message: 'Request Entity Too Large' });
    expect(events).toHaveLength(0);
  });

  it('sends a request to the most specific route, whatever order the routes were declared in', async () => {
    // Prepare: a greedy route declared before the exact one.
    const hits: string[] = [];
    const route = (method: string, path: string) => ({
      method,
      path,
      functionName: path,
      invoke: async () => {
        hits.push(`${method} ${path}`);
        return { requestId: 'r', payload: { statusCode: 200, body: '' }, durationMs: 1 };
      },
    });
    const routed = await startHttpApi(
      [route('ANY', '/{proxy+}'), route('POST', '/items/{id}'), route('POST', '/items/special')],
      { port: 0 },
    );
    // Act
    for (const path of ['/items/special', '/items/7', '/other/path']) {
      await fetch(`${routed.endpoint}${path}`, { method: 'POST', body: '{}' });
    }
    await routed.close();
    // Assess
    expect(hits).toEqual(['POST /items/special', 'POST /items/{id}', 'ANY /{proxy+}']);
  });

  it('keeps the query string as sent in rawQueryString, and decodes it in queryStringParameters', async () => {
    // Prepare: a quote, which URL parsing would re-encode as %27, and an encoded plus.
    events.length = 0;
    answer = { statusCode: 200, body: '' };
    // Act: sent as is (fetch would normalise the URL first).
    await sendRaw(api, 'POST', "/events?q='x'&q=y%2Bz&flag");
    // Assess
    expect(events[0]!.rawQueryString).toBe("q='x'&q=y%2Bz&flag");
    expect(events[0]!.queryStringParameters).toEqual({ q: "'x',y+z", flag: '' });
  });

  it('decodes the path parameters, leaving rawPath as sent', async () => {
    // Prepare
    const seen: APIGatewayProxyEventV2[] = [];
    const routed = await startHttpApi(
      [
        {
          method: 'GET',
          path: '/items/{id}/{rest+}',
          functionName: 'Items',
          invoke: async (event) => {
            seen.push(event);
            return { requestId: 'r', payload: { statusCode: 200, body: '' }, durationMs: 1 };
          },
        },
      ],
      { port: 0 },
    );
    // Act
    await sendRaw(routed, 'GET', '/items/a%20b%C3%A9/c%2Cd/e%zz');
    await routed.close();
    // Assess: a value that is not valid percent-encoding is handed over as it came.
    expect(seen[0]!.pathParameters).toEqual({ id: 'a bé', rest: 'c,d/e%zz' });
    expect(seen[0]!.rawPath).toBe('/items/a%20b%C3%A9/c%2Cd/e%zz');
  });

  it('sends what no other route matches, any path and method, to the $default route, named $default in the event', async () => {
    // Prepare
    const seen: APIGatewayProxyEventV2[] = [];
    const route = (method: string, path: string) => ({
      method,
      path,
      functionName: path,
      invoke: async (event: APIGatewayProxyEventV2) => {
        seen.push(event);
        return { requestId: 'r', payload: { statusCode: 200, body: '' }, durationMs: 1 };
      },
    });
    const routed = await startHttpApi([route('ANY', '$default'), route('POST', '/events')], { port: 0 });
    // Act
    const answers = [];
    for (const [method, path] of [
      ['POST', '/events'],
      ['GET', '/events'],
      ['DELETE', '/any/other/path'],
    ] as const) {
      answers.push((await fetch(`${routed.endpoint}${path}`, { method })).status);
    }
    await routed.close();
    // Assess
    expect(answers).toEqual([200, 200, 200]);
    expect(seen.map((event) => [event.routeKey, event.requestContext.routeKey, event.rawPath])).toEqual([
      ['POST /events', 'POST /events', '/events'],
      ['$default', '$default', '/events'],
      ['$default', '$default', '/any/other/path'],
    ]);
  });
});
