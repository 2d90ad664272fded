import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRuntime } from '#local/runtime.ts';
import { cloudEvent } from '#test/helpers/factories.ts';
import { eventually, scanItems, startTestRuntime } from '#test/helpers/runtime.ts';

/**
 * With IngestJwtIssuer set, the local runtime serves the JWT ingest API of template.yaml on a port of its own: a
 * token from the issuer (HTTPS, a self-signed certificate trusted through jwtIssuerCa) reaches IngestFunction with
 * its claims and lands in the table; a request without one is answered 401 and reaches nothing.
 */

describe('E2E: the local runtime serves the JWT ingest API', () => {
  let runtime: LocalRuntime;
  let issuerServer: Server;
  let issuer: string;
  let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  const ingestInvocations: APIGatewayProxyEventV2WithJWTAuthorizer[] = [];

  beforeAll(async () => {
    const keys = await generateKeyPair('RS256');
    privateKey = keys.privateKey;
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256' };
    const certificate = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
      ],
    });
    issuerServer = createServer({ key: certificate.private, cert: certificate.cert }, (req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration')
        return res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => issuerServer.listen(0, '127.0.0.1', resolve));
    issuer = `https://127.0.0.1:${(issuerServer.address() as AddressInfo).port}`;
    // No jwtApiPort: a runtime whose HTTP API takes any free port (as npm run invoke starts one) does so for the
    // JWT API too, rather than 3001, which a runtime started with npm start may hold.
    ({ runtime } = await startTestRuntime({
      jwtIssuerCa: certificate.cert,
      parameterOverrides: {
        IngestJwtIssuer: issuer,
        IngestJwtAudience: 'pipeline-web',
        IngestCorsAllowOrigins: 'https://app.example.com',
      },
      observe: (name, event) => {
        if (name === 'IngestFunction')
          ingestInvocations.push(event as APIGatewayProxyEventV2WithJWTAuthorizer);
      },
    }));
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
    issuerServer?.closeAllConnections();
    await new Promise((resolve) => issuerServer?.close(resolve));
  });

  const post = (n: number, authorization?: string) =>
    fetch(`${runtime.jwtApiEndpoint}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json',
        origin: 'https://app.example.com',
        ...(authorization ? { authorization } : {}),
      },
      body: JSON.stringify(cloudEvent(n, { subject: `jwt-${n}`, data: { n } })),
    });

  it('takes a valid token to the function and the table, and refuses a request without one', async () => {
    // Prepare
    const token = await new SignJWT({ client_id: 'pipeline-web', sub: 'browser-user' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    // Act
    const refused = await post(1);
    const accepted = await post(2, `Bearer ${token}`);
    // Assess
    expect(runtime.jwtApiEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(runtime.jwtApiEndpoint).not.toBe(runtime.apiEndpoint);
    expect(runtime.jwtApiEndpoint).not.toBe('http://127.0.0.1:3001');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ message: 'Unauthorized' });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ingestInvocations).toHaveLength(1);
    expect(ingestInvocations[0]!.requestContext.authorizer.jwt.claims).toMatchObject({
      sub: 'browser-user',
      client_id: 'pipeline-web',
      iss: issuer,
    });
    const expected = `ce:urn%3Atest%3Aproducer:${cloudEvent(2).id}`;
    const identities = await eventually(
      async () => (await scanItems(runtime)).map((item) => (item.identity as { S: string }).S),
      (found) => found.includes(expected),
      'the accepted event in the table',
    );
    expect(identities).not.toContain(`ce:urn%3Atest%3Aproducer:${cloudEvent(1).id}`);
  });

  it('names the JWT API in the live view', async () => {
    // Act
    const status = await runtime.status();
    // Assess
    expect(status.endpoints).toEqual({
      aws: runtime.endpoint,
      api: runtime.apiEndpoint,
      jwtApi: runtime.jwtApiEndpoint,
    });
  });
});
