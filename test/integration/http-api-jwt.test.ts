import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { generate } from 'selfsigned';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  httpApiThrottling,
  jwtAuthorizer,
  plainHttpApis,
  type RunningHttpApi,
  startHttpApi,
} from '#local/http-api.ts';
import { planStack } from '#local/stack.ts';
import { loadTemplate } from '#local/template/parse.ts';

/**
 * The JWT ingest API of template.yaml (IngestJwtIssuer set), served by the local HTTP API: its JWT authorizer
 * against an HTTPS issuer with a self-signed certificate, its CORS configuration and its stage's throttling.
 */

type Keys = Awaited<ReturnType<typeof generateKeyPair>>;

let issuerServer: Server;
let issuer: string;
let ca: string;
let signing: Keys;
let stranger: Keys;
const AUDIENCE = 'pipeline-api';
const ORIGIN = 'https://app.example.com';

beforeAll(async () => {
  signing = await generateKeyPair('RS256');
  stranger = await generateKeyPair('RS256');
  const certificate = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  ca = certificate.cert;
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: 'key-1', alg: 'RS256', use: 'sig' };
  issuerServer = createServer({ key: certificate.private, cert: certificate.cert }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/realm/.well-known/openid-configuration')
      return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/keys` }));
    if (req.url === '/realm/keys') return res.end(JSON.stringify({ keys: [jwk] }));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
  issuer = `https://127.0.0.1:${(issuerServer.address() as AddressInfo).port}/realm`;
});

afterAll(async () => {
  issuerServer?.closeAllConnections();
  await new Promise((resolve) => issuerServer?.close(resolve));
});

const planned = (overrides: Record<string, string> = {}) => {
  const template = loadTemplate('template.yaml');
  const stack = planStack(template, {
    parameterOverrides: {
      IngestJwtIssuer: issuer,
      IngestJwtAudience: `other-api,${AUDIENCE}`,
      IngestCorsAllowOrigins: ORIGIN,
      ...overrides,
    },
    region: 'us-east-1',
    accountId: '000000000000',
    stackName: 'local',
    endpoint: 'http://127.0.0.1:4566',
  });
  return { stack, template, apis: plainHttpApis(stack) };
};

let api: RunningHttpApi | undefined;
const invoked: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];
const logged: string[] = [];

afterEach(async () => {
  await api?.close();
  api = undefined;
  invoked.length = 0;
  logged.length = 0;
});

/** Starts the JWT API as the runtime does, from template.yaml; the function records its events. */
const startJwtApi = async (
  options: { overrides?: Record<string, string>; trustIssuer?: boolean; scopes?: string[] } = {},
) => {
  const { stack, template, apis } = planned(options.overrides);
  const [plain] = apis;
  const throttling = httpApiThrottling(stack, template);
  api = await startHttpApi(
    plain!.routes.map((route) => ({
      method: route.method,
      path: route.path,
      functionName: route.function.name,
      throttle: throttling.limitsOfRoute(plain!.apiId, route.routeKey),
      ...(route.authorizer
        ? {
            authorizer: jwtAuthorizer(route.authorizer, {
              ...(options.trustIssuer === false ? {} : { issuerCa: ca }),
              log: (line) => logged.push(line),
            }),
            authorizationScopes: options.scopes ?? route.authorizationScopes,
          }
        : {}),
      invoke: async (event) => {
        invoked.push(event as APIGatewayProxyEventV2WithJWTAuthorizer);
        return {
          requestId: 'r',
          payload: {
            statusCode: 202,
            headers: { 'retry-after': '1', 'access-control-allow-origin': 'https://evil.example.com' },
            body: '{"accepted":1}',
          },
          durationMs: 1,
        };
      },
    })),
    {
      port: 0,
      apiId: plain!.apiId,
      ...(plain!.cors ? { cors: plain!.cors } : {}),
      log: (l) => logged.push(l),
    },
  );
  return api;
};

const now = () => Math.floor(Date.now() / 1000);

const token = async (
  claims: Record<string, unknown> = {},
  options: { key?: Keys; kid?: string | null; iss?: string } = {},
) => {
  const jwt = new SignJWT({ aud: AUDIENCE, sub: 'user-1', scope: 'events/write', ...claims })
    .setProtectedHeader({ alg: 'RS256', ...(options.kid === null ? {} : { kid: options.kid ?? 'key-1' }) })
    .setIssuer(options.iss ?? issuer);
  if (!('iat' in claims)) jwt.setIssuedAt(now() - 10);
  if (!('exp' in claims)) jwt.setExpirationTime(now() + 300);
  return jwt.sign((options.key ?? signing).privateKey);
};

const post = (authorization?: string, headers: Record<string, string> = {}) =>
  fetch(`${api!.endpoint}/events`, {
    method: 'POST',
    body: '{"specversion":"1.0"}',
    headers: {
      'content-type': 'application/json',
      ...(authorization !== undefined ? { authorization } : {}),
      ...headers,
    },
  });

describe('Local JWT API: the JWT authorizer (API Gateway HTTP API)', () => {
  it('reads the JWT API from template.yaml only when IngestJwtIssuer is set', () => {
    // Act
    const without = planned({ IngestJwtIssuer: '', IngestJwtAudience: '' }).apis;
    const [withIssuer] = planned().apis;
    // Assess
    expect(without).toEqual([]);
    expect(withIssuer?.routes).toMatchObject([
      {
        routeKey: 'POST /events',
        function: { logicalId: 'IngestFunction' },
        authorizer: { issuer, audience: ['other-api', AUDIENCE], header: 'authorization' },
      },
    ]);
  });

  it('lets a valid token through, with or without Bearer, and hands the function its claims', async () => {
    // Prepare
    await startJwtApi();
    const jwt = await token({ email: 'a@example.com', groups: ['admin', 'ops'] });
    // Act
    const withBearer = await post(`Bearer ${jwt}`);
    const bare = await post(jwt);
    // Assess
    expect([withBearer.status, bare.status]).toEqual([202, 202]);
    expect(invoked).toHaveLength(2);
    const { jwt: passed } = invoked[0]!.requestContext.authorizer;
    expect(passed.scopes).toBeNull();
    expect(passed.claims).toMatchObject({
      sub: 'user-1',
      iss: issuer,
      aud: AUDIENCE,
      email: 'a@example.com',
      groups: '[admin ops]',
      scope: 'events/write',
    });
    // Claims arrive as text, numbers too.
    expect(typeof passed.claims.exp).toBe('string');
    expect(Number(passed.claims.exp)).toBeGreaterThan(now());
  });

  it('accepts client_id instead of aud, as Cognito access tokens carry it, and checks aud when both are there', async () => {
    // Prepare
    await startJwtApi();
    const cognito = await token({ aud: undefined, client_id: AUDIENCE, token_use: 'access' });
    const both = await token({ aud: 'someone-else', client_id: AUDIENCE });
    // Act
    const accepted = await post(`Bearer ${cognito}`);
    const refused = await post(`Bearer ${both}`);
    // Assess
    expect(accepted.status).toBe(202);
    expect(refused.status).toBe(401);
    expect(invoked).toHaveLength(1);
    expect(invoked[0]!.requestContext.authorizer.jwt.claims.client_id).toBe(AUDIENCE);
  });

  it.each([
    ['no token', async () => undefined, 'Bearer'],
    ['an empty Bearer', async () => 'Bearer ', 'Bearer'],
    ['not a JWT', async () => 'Bearer not-a-token', 'the token is malformed'],
    [
      'a bad signature',
      async () => `Bearer ${await token({}, { key: stranger })}`,
      'the token has an invalid signature',
    ],
    [
      'a wrong issuer',
      async () => `Bearer ${await token({}, { iss: 'https://issuer.example.com' })}`,
      'the token does not have a valid issuer',
    ],
    [
      'a wrong audience',
      async () => `Bearer ${await token({ aud: 'another-api' })}`,
      'error="invalid_token" error_description="the token does not have a valid audience"',
    ],
    ['an expired token', async () => `Bearer ${await token({ exp: now() - 60 })}`, 'the token has expired'],
    ['a token not valid yet', async () => `Bearer ${await token({ nbf: now() + 600 })}`, 'not valid yet'],
    ['a token issued in the future', async () => `Bearer ${await token({ iat: now() + 600 })}`, 'future'],
    ['a token without kid', async () => `Bearer ${await token({}, { kid: null })}`, 'the token has no kid'],
    [
      'a kid the issuer does not have',
      async () => `Bearer ${await token({}, { kid: 'key-2' })}`,
      "no key in the issuer's key set",
    ],
  ])('answers 401 to %s and never invokes the function', async (_case, authorization, challenge) => {
    // Prepare
    await startJwtApi();
    // Act
    const response = await post(await authorization());
    // Assess
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ message: 'Unauthorized' });
    expect(response.headers.get('www-authenticate')).toContain(challenge);
    expect(invoked).toHaveLength(0);
  });

  it("answers 403 insufficient_scope to a valid token without one of the route's AuthorizationScopes", async () => {
    // Prepare: the route asks for scopes the token does not carry.
    await startJwtApi({ scopes: ['events/admin', 'events/replay'] });
    const granted = await token({ scope: 'openid events/replay' });
    // Act
    const refused = await post(`Bearer ${await token({ scope: 'openid events/write' })}`);
    const accepted = await post(`Bearer ${granted}`);
    // Assess
    expect(refused.status).toBe(403);
    expect(await refused.json()).toEqual({ message: 'Forbidden' });
    expect(refused.headers.get('www-authenticate')).toBe(
      'Bearer scope="events/admin events/replay" error="insufficient_scope" error_description="expected scopes: [events/admin events/replay]"',
    );
    expect(accepted.status).toBe(202);
    expect(invoked).toHaveLength(1);
    expect(invoked[0]!.requestContext.authorizer.jwt.scopes).toEqual(['openid', 'events/replay']);
  });

  it("answers 401 while the issuer's certificate is not trusted, and logs a warning once", async () => {
    // Prepare: no CA given for the issuer's self-signed certificate.
    await startJwtApi({ trustIssuer: false });
    const jwt = await token();
    // Act
    const first = await post(`Bearer ${jwt}`);
    const second = await post(`Bearer ${jwt}`);
    // Assess
    expect([first.status, second.status]).toEqual([401, 401]);
    expect(second.headers.get('www-authenticate')).toContain("the issuer's keys cannot be read");
    expect(invoked).toHaveLength(0);
    expect(logged.filter((line) => line.startsWith('warning: IngestJwtAuthorizer cannot read'))).toHaveLength(
      1,
    );
  });

  it('answers 401 when the issuer cannot be reached at all', async () => {
    // Prepare: an issuer on a port nothing listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const offline = `https://127.0.0.1:${port}`;
    await startJwtApi({ overrides: { IngestJwtIssuer: offline } });
    // Act
    const response = await post(`Bearer ${await token({}, { iss: offline })}`);
    // Assess
    expect(response.status).toBe(401);
    expect(invoked).toHaveLength(0);
    expect(logged.some((line) => line.startsWith('warning: IngestJwtAuthorizer cannot read'))).toBe(true);
  });
});

describe('Local JWT API: CORS (API Gateway HTTP API)', () => {
  const preflight = (origin: string) =>
    fetch(`${api!.endpoint}/events`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });

  it('answers a preflight itself, with no token and no function, with the configured headers', async () => {
    // Prepare
    await startJwtApi();
    // Act
    const response = await preflight(ORIGIN);
    // Assess
    expect(response.status).toBe(204);
    expect(
      Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-'))),
    ).toEqual({
      'access-control-allow-origin': ORIGIN,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'authorization,content-type',
      'access-control-max-age': '600',
    });
    expect(invoked).toHaveLength(0);
  });

  it('gives an origin that is not allowed no CORS headers', async () => {
    // Prepare
    await startJwtApi();
    // Act
    const refusedPreflight = await preflight('https://evil.example.com');
    const refusedCall = await post(`Bearer ${await token()}`, { origin: 'https://evil.example.com' });
    // Assess
    expect(refusedPreflight.status).toBe(204);
    expect(refusedPreflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(refusedCall.status).toBe(202);
    // The function's own CORS header is dropped.
    expect(refusedCall.headers.get('access-control-allow-origin')).toBeNull();
  });

  it("adds Allow-Origin and Expose-Headers to the function's answer and to a 401, in place of the function's own", async () => {
    // Prepare
    await startJwtApi();
    // Act
    const accepted = await post(`Bearer ${await token()}`, { origin: ORIGIN });
    const refused = await post(undefined, { origin: ORIGIN });
    // Assess
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(accepted.headers.get('access-control-expose-headers')).toBe('retry-after');
    expect(accepted.headers.get('retry-after')).toBe('1');
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it('answers * to any origin when AllowOrigins is *, the parameter default', async () => {
    // Prepare
    await startJwtApi({ overrides: { IngestCorsAllowOrigins: '*' } });
    // Act
    const response = await preflight('http://localhost:5173');
    // Assess
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('Local JWT API: throttling from IngestJwtStage', () => {
  it("takes the stage's DefaultRouteSettings, and answers 429 before the authorizer", async () => {
    // Prepare: a burst of 2 through template.yaml's parameters.
    await startJwtApi({ overrides: { ApiThrottlingRateLimit: '1', ApiThrottlingBurstLimit: '2' } });
    const { stack, template, apis } = planned({ ApiThrottlingRateLimit: '1', ApiThrottlingBurstLimit: '2' });
    const limits = httpApiThrottling(stack, template).limitsOfRoute(apis[0]!.apiId, 'POST /events');
    // Act: three without a token at once.
    const answers = await Promise.all([post(), post(), post()]);
    // Assess
    expect(limits).toEqual({
      rateLimit: 1,
      burstLimit: 2,
      source: 'IngestJwtStage.DefaultRouteSettings',
    });
    expect(answers.map((answer) => answer.status).sort()).toEqual([401, 401, 429]);
    expect(invoked).toHaveLength(0);
  });
});
