import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACCOUNT_THROTTLE_LIMITS, httpApiThrottling, TokenBucket } from '#local/http-api.ts';
import { planStack } from '#local/stack.ts';
import { parseTemplate } from '#local/template/parse.ts';
import { TemplateResolveError } from '#local/template/resolve.ts';

/**
 * The local HTTP API's throttling: the token bucket on a clock the test moves, and the limits each route gets from
 * the template (DefaultRouteSettings, RouteSettings, an event's RouteSettings, Globals.HttpApi, parameters).
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

/** How many of `n` requests asked at once the bucket lets through. */
const takes = (bucket: TokenBucket, n: number): number =>
  Array.from({ length: n }, () => bucket.tryTake()).filter(Boolean).length;

const options = {
  region: 'us-east-1',
  accountId: '000000000000',
  stackName: 'local',
  endpoint: 'http://127.0.0.1:4566',
};

const template = (text: string) => parseTemplate(text);

/** A template with one HTTP API and functions on it; `api` and `events` are YAML fragments. */
const apiTemplate = ({
  api = '',
  event = '',
  globals = '',
  parameters = '',
}: {
  api?: string;
  event?: string;
  globals?: string;
  parameters?: string;
}) => `
Transform: AWS::Serverless-2016-10-31
Parameters:
  Rate:
    Type: String
    Default: '2'
${parameters}
${globals}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Description: test
${api}
  Ingest:
    Type: AWS::Serverless::Function
    Properties:
      Handler: handler.handler
      Runtime: nodejs24.x
      Events:
        Post:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: POST
            Path: /events
${event}
        Get:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: GET
            Path: /events
        Implicit:
          Type: HttpApi
          Properties:
            Method: GET
            Path: /health
`;

const limits = (text: string, overrides: Record<string, string> = {}) => {
  const parsed = template(text);
  const stack = planStack(parsed, { ...options, parameterOverrides: overrides });
  const throttling = httpApiThrottling(stack, parsed);
  const fn = stack.functions.Ingest!;
  return Object.fromEntries(fn.events.map((event) => [event.name, throttling.limitsOf(fn, event)]));
};

describe('Local HTTP API: token bucket', () => {
  it('lets the burst through at once, then one request per 1/rate seconds', () => {
    // Prepare
    const clock = fakeClock();
    const bucket = new TokenBucket({ rateLimit: 2, burstLimit: 3 }, clock);
    // Act
    const burst = takes(bucket, 5);
    clock.advance(499);
    const tooEarly = takes(bucket, 1);
    clock.advance(1);
    const afterHalfASecond = takes(bucket, 3);
    // Assess
    expect(burst).toBe(3);
    expect(tooEarly).toBe(0);
    expect(afterHalfASecond).toBe(1);
  });

  it('never holds more than the burst, however long it waits', () => {
    // Prepare
    const clock = fakeClock();
    const bucket = new TokenBucket({ rateLimit: 100, burstLimit: 4 }, clock);
    takes(bucket, 4);
    // Act
    clock.advance(60_000);
    const passed = takes(bucket, 10);
    // Assess
    expect(passed).toBe(4);
  });

  it('counts a refused request against nothing: refusals do not delay the next token', () => {
    // Prepare
    const clock = fakeClock();
    const bucket = new TokenBucket({ rateLimit: 1, burstLimit: 1 }, clock);
    takes(bucket, 1);
    // Act: refused over and over during the second it takes to refill.
    const refused = Array.from({ length: 10 }, () => {
      clock.advance(99);
      return bucket.tryTake();
    }).filter(Boolean).length;
    clock.advance(10);
    const next = bucket.tryTake();
    // Assess
    expect(refused).toBe(0);
    expect(next).toBe(true);
  });

  it.each([
    ['burst 0', { rateLimit: 100, burstLimit: 0 }],
    ['rate 0 and burst 0', { rateLimit: 0, burstLimit: 0 }],
  ])('lets nothing through with %s', (_, bucketLimits) => {
    // Prepare
    const clock = fakeClock();
    const bucket = new TokenBucket(bucketLimits, clock);
    // Act
    const first = takes(bucket, 3);
    clock.advance(3_600_000);
    const later = takes(bucket, 3);
    // Assess
    expect(first + later).toBe(0);
  });

  it('does not refill when the clock goes back', () => {
    // Prepare
    const clock = fakeClock();
    const bucket = new TokenBucket({ rateLimit: 1, burstLimit: 1 }, clock);
    takes(bucket, 1);
    // Act
    clock.advance(-5_000);
    const passed = takes(bucket, 1);
    // Assess
    expect(passed).toBe(0);
  });
});

describe('Local HTTP API: throttling limits from the template', () => {
  it("gives every route the API's DefaultRouteSettings, after parameter overrides", () => {
    // Prepare
    const text = apiTemplate({
      api: `      DefaultRouteSettings:
        ThrottlingRateLimit: !Ref Rate
        ThrottlingBurstLimit: 3`,
    });
    // Act
    const routes = limits(text, { Rate: '5' });
    // Assess
    expect(routes.Post).toEqual({ rateLimit: 5, burstLimit: 3, source: 'Api.DefaultRouteSettings' });
    expect(routes.Get).toMatchObject({ rateLimit: 5, burstLimit: 3 });
  });

  it("lets a route's RouteSettings win over DefaultRouteSettings, and the event's over the API's", () => {
    // Prepare
    const text = apiTemplate({
      api: `      DefaultRouteSettings:
        ThrottlingRateLimit: 100
        ThrottlingBurstLimit: 200
      RouteSettings:
        POST /events:
          ThrottlingRateLimit: 10
          ThrottlingBurstLimit: 20
        GET /events:
          ThrottlingBurstLimit: 7`,
      event: `            RouteSettings:
              ThrottlingBurstLimit: 2`,
    });
    // Act
    const routes = limits(text);
    // Assess
    expect(routes.Post).toEqual({
      rateLimit: 10,
      burstLimit: 2,
      source: 'Api.RouteSettings.POST /events and Ingest.Events.Post.Properties.RouteSettings',
    });
    // Only the burst set for the route: the rate is the API's default.
    expect(routes.Get).toMatchObject({ rateLimit: 100, burstLimit: 7 });
  });

  it('applies the account-level quota where nothing sets a limit, and Globals.HttpApi to the implicit API', () => {
    // Prepare
    const bare = apiTemplate({});
    const withGlobals = apiTemplate({
      globals: `Globals:
  HttpApi:
    DefaultRouteSettings:
      ThrottlingRateLimit: 50`,
    });
    // Act
    const unset = limits(bare);
    const global = limits(withGlobals);
    // Assess
    expect(unset.Post).toEqual({ ...ACCOUNT_THROTTLE_LIMITS, source: 'the account-level quota' });
    expect(unset.Implicit).toMatchObject(ACCOUNT_THROTTLE_LIMITS);
    expect(global.Implicit).toEqual({
      rateLimit: 50,
      burstLimit: ACCOUNT_THROTTLE_LIMITS.burstLimit,
      source: 'Globals.HttpApi.DefaultRouteSettings and the account-level quota',
    });
    expect(global.Post).toMatchObject({ rateLimit: 50 });
  });

  it("reads template.yaml's own limits and the overrides of ApiThrottlingRateLimit and ApiThrottlingBurstLimit", () => {
    // Prepare
    const parsed = template(readFileSync('template.yaml', 'utf8'));
    // Act
    const limitsOf = (overrides: Record<string, string>) => {
      const stack = planStack(parsed, { ...options, parameterOverrides: overrides });
      const fn = stack.functions.IngestFunction!;
      return httpApiThrottling(stack, parsed).limitsOf(fn, fn.events.find((e) => e.type === 'HttpApi')!);
    };
    // Assess
    expect(limitsOf({})).toMatchObject({ rateLimit: 1000, burstLimit: 2000 });
    expect(limitsOf({ ApiThrottlingRateLimit: '2', ApiThrottlingBurstLimit: '3' })).toEqual({
      rateLimit: 2,
      burstLimit: 3,
      source: 'IngestApi.DefaultRouteSettings',
    });
  });

  it.each([
    [
      'a word',
      `ThrottlingRateLimit: fast`,
      'Api.DefaultRouteSettings.ThrottlingRateLimit: must be a number ≥ 0',
    ],
    ['a negative rate', `ThrottlingRateLimit: -1`, 'Api.DefaultRouteSettings.ThrottlingRateLimit: must be'],
    [
      'a fractional burst',
      `ThrottlingBurstLimit: 2.5`,
      'Api.DefaultRouteSettings.ThrottlingBurstLimit: must be a whole number ≥ 0',
    ],
    ['an empty parameter', `ThrottlingRateLimit: !Ref Rate`, 'got ""'],
  ])('refuses, naming where it is, a limit that is %s', (_, line, message) => {
    // Prepare
    const text = apiTemplate({
      api: `      DefaultRouteSettings:
        ${line}`,
    });
    // Act
    const act = () => limits(text, { Rate: '' });
    // Assess
    expect(act).toThrow(TemplateResolveError);
    expect(act).toThrow(message);
  });

  it("refuses a bad limit in an event's RouteSettings, naming the function and event", () => {
    // Prepare
    const text = apiTemplate({
      event: `            RouteSettings:
              ThrottlingBurstLimit: -3`,
    });
    // Act
    const act = () => limits(text);
    // Assess
    expect(act).toThrow(
      'Ingest.Events.Post.Properties.RouteSettings.ThrottlingBurstLimit: must be a whole number ≥ 0 (the most requests let through at once), got -3',
    );
  });
});
