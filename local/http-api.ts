import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import {
  createRemoteJWKSet,
  customFetch,
  decodeProtectedHeader,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import type { InvokeResult } from '#local/functions/runner.ts';
import { closeAfterAnswer, listenOn, readBody } from '#local/net.ts';
import type { LocalStack, PlannedEvent, PlannedFunction } from '#local/stack.ts';
import { at, type Finding, finding, formatFinding, type Location } from '#local/template/findings.ts';
import type { Template } from '#local/template/parse.ts';
import { resolveValue, TemplateResolveError } from '#local/template/resolve.ts';
import { type Clock, systemClock } from '#shared/kinesis/rate-limiter.ts';

/**
 * API Gateway HTTP APIs for the template's `HttpApi` events, and for HTTP APIs written as plain
 * AWS::ApiGatewayV2 resources (an Api, its Routes, Integrations, JWT Authorizers and Stage), payload format 2.0:
 * the route is matched, the request becomes the same event API Gateway sends, and the function's answer becomes
 * the HTTP response by the 2.0 rules (a result with statusCode is taken as is; anything else is a 200 JSON body).
 * Each route is throttled as the API's stage throttles it, from the template's route settings; a route with a JWT
 * authorizer lets only valid tokens through, and an API with a CorsConfiguration answers preflights itself.
 */

export interface HttpRoute {
  method: string;
  path: string;
  functionName: string;
  /** The route's throttling; the account-level quota when not given. */
  throttle?: RouteThrottle;
  /** The route's JWT authorizer (AuthorizationType JWT); without one every request reaches the function. */
  authorizer?: RouteAuthorizer;
  /** The route's AuthorizationScopes: a token must carry one of them. */
  authorizationScopes?: string[];
  invoke(event: APIGatewayProxyEventV2): Promise<InvokeResult>;
}

/**
 * Throttling of HTTP APIs, as API Gateway documents it
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-throttling.html):
 * - a token bucket, a token per request: ThrottlingBurstLimit is the bucket's size ("the burst (that is, the
 *   maximum bucket size)") and ThrottlingRateLimit the steady-state requests per second that refill it;
 * - a stage's DefaultRouteSettings set it for every route, a route's RouteSettings (keyed by route key, as
 *   `POST /events`) override it for that route;
 * - a request over the limits gets 429 Too Many Requests and never reaches the integration;
 * - where no limit is set, the account-level quota applies: 10,000 requests per second with a bucket of 5,000
 *   (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html; some Regions 2,500 and 1,250).
 * SAM merges an HttpApi event's RouteSettings into its API's RouteSettings under the event's route key
 * (aws/serverless-application-model samtranslator/plugins/api/implicit_http_api_plugin.py), and Globals.HttpApi
 * into every HTTP API.
 * Not confirmed, and chosen here: each route has a bucket of its own (the REST API docs say stage limits apply per
 * method; nothing says so of HTTP API routes); a route's settings that set only one of the two limits take the
 * other from DefaultRouteSettings (AWS may take the account quota instead: the lower limit is the safer guess);
 * the account-level bucket, shared by all APIs of an account and Region, is not added on top of limits the
 * template sets (a raised account quota would allow them).
 */
export interface ThrottleLimits {
  /** Requests per second that refill the bucket (ThrottlingRateLimit). */
  rateLimit: number;
  /** The bucket's size: the most requests let through at once (ThrottlingBurstLimit). */
  burstLimit: number;
}

/** The limits, with where in the template each comes from. */
export interface RouteThrottle extends ThrottleLimits {
  source: string;
}

/** The account-level quota, per Region, which applies where the template sets no limit. */
export const ACCOUNT_THROTTLE_LIMITS: Readonly<ThrottleLimits> = { rateLimit: 10_000, burstLimit: 5_000 };

/**
 * A token bucket that lets a request through or refuses it at once, on an injectable clock. Hand-written:
 * shared/kinesis/rate-limiter.ts paces work by making it wait, which an API that answers 429 must not do, and has
 * no burst; npm's token buckets (`limiter` and the like) read the system clock themselves.
 */
export class TokenBucket {
  readonly limits: ThrottleLimits;
  readonly #clock: Pick<Clock, 'now'>;
  /**
   * In thousandths of a token, so that whole milliseconds at a whole rate refill exactly: tenths of a token added
   * up in floating point fall short of one.
   */
  #milliTokens: number;
  #at: number;

  constructor(limits: ThrottleLimits, clock: Pick<Clock, 'now'> = systemClock) {
    this.limits = { rateLimit: limits.rateLimit, burstLimit: limits.burstLimit };
    this.#clock = clock;
    // A bucket starts full.
    this.#milliTokens = limits.burstLimit * 1000;
    this.#at = clock.now();
  }

  /** Takes a token when there is one; false when the request is to be throttled. */
  tryTake(): boolean {
    const now = this.#clock.now();
    if (now > this.#at) {
      const refill = (now - this.#at) * this.limits.rateLimit;
      this.#milliTokens = Math.min(this.limits.burstLimit * 1000, this.#milliTokens + refill);
      this.#at = now;
    }
    if (this.#milliTokens < 1000) return false;
    this.#milliTokens -= 1000;
    return true;
  }
}

const THROTTLE_FIELDS: Array<[keyof ThrottleLimits, string]> = [
  ['rateLimit', 'ThrottlingRateLimit'],
  ['burstLimit', 'ThrottlingBurstLimit'],
];

type Limit = { value: number; source: string };
type Limits = Partial<Record<keyof ThrottleLimits, Limit>>;

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const named = ({ resource, path }: Location): string => (path === '' ? resource : `${resource}.${path}`);

/**
 * The throttling limits of one route settings object (resolved: parameters come as strings); a limit that is not a
 * number ≥ 0 (a whole one for the burst, an Integer in CloudFormation) is a finding.
 */
const limitsIn = (settings: unknown, location: Location, findings: Finding[]): Limits => {
  if (settings === undefined || settings === null) return {};
  if (!isMap(settings)) {
    findings.push(finding(location, 'must be a map of route settings'));
    return {};
  }
  const limits: Limits = {};
  for (const [key, field] of THROTTLE_FIELDS) {
    const value = settings[field];
    if (value === undefined || value === null) continue;
    const n =
      typeof value === 'number'
        ? value
        : typeof value === 'string' && value.trim() !== ''
          ? Number(value)
          : Number.NaN;
    const whole = key === 'burstLimit';
    if (!Number.isFinite(n) || n < 0 || (whole && !Number.isInteger(n))) {
      findings.push(
        finding(
          at(location, field),
          whole
            ? `must be a whole number ≥ 0 (the most requests let through at once), got ${JSON.stringify(value)}`
            : `must be a number ≥ 0 (requests per second), got ${JSON.stringify(value)}`,
        ),
      );
      continue;
    }
    limits[key] = { value: n, source: named(location) };
  }
  return limits;
};

interface ApiThrottleSettings {
  defaults: Limits;
  /** By route key (`POST /events`, `$default`). */
  routes: Record<string, Limits>;
}

const settingsOf = (
  properties: Record<string, unknown>,
  location: Location,
  findings: Finding[],
): ApiThrottleSettings => {
  const defaults = limitsIn(properties.DefaultRouteSettings, at(location, 'DefaultRouteSettings'), findings);
  const routes: Record<string, Limits> = {};
  const perRoute = properties.RouteSettings;
  if (isMap(perRoute)) {
    for (const [routeKey, settings] of Object.entries(perRoute))
      routes[routeKey] = limitsIn(settings, at(at(location, 'RouteSettings'), routeKey), findings);
  } else if (perRoute !== undefined && perRoute !== null) {
    findings.push(finding(at(location, 'RouteSettings'), 'must be a map from route key to route settings'));
  }
  return { defaults, routes };
};

/** The limits a route gets: its event's settings, then its API's route settings, then the API's defaults. */
export interface HttpApiThrottling {
  limitsOf(fn: PlannedFunction, event: PlannedEvent): RouteThrottle;
  /**
   * The limits of a route of an AWS::ApiGatewayV2::Api (by the API's `Ref` and the route key): its Stage's
   * RouteSettings for the route, then the Stage's DefaultRouteSettings (Globals.HttpApi does not reach these).
   */
  limitsOfRoute(apiId: string, routeKey: string): RouteThrottle;
}

/**
 * Reads the throttling of every HTTP API in the planned stack (parameter overrides and intrinsics resolved), and
 * refuses, naming each, limits that are not numbers ≥ 0: called before anything starts.
 */
export const httpApiThrottling = (stack: LocalStack, template: Template): HttpApiThrottling => {
  const findings: Finding[] = [];
  const rawGlobals = template.Globals?.HttpApi;
  const globalProperties =
    rawGlobals === undefined ? {} : resolveValue(rawGlobals, stack.context, 'Globals.HttpApi');
  const globals = settingsOf(
    isMap(globalProperties) ? globalProperties : {},
    { resource: 'Globals', path: 'HttpApi' },
    findings,
  );
  // By the value `Ref` gives, which is what an event's resolved ApiId holds.
  const apis = new Map<string, ApiThrottleSettings>();
  for (const resource of Object.values(stack.resources)) {
    if (resource.type !== 'AWS::Serverless::HttpApi') continue;
    const own = settingsOf(resource.properties, { resource: resource.logicalId, path: '' }, findings);
    // Globals merge as SAM merges maps: the resource's own values win.
    const routes: Record<string, Limits> = { ...globals.routes };
    for (const [routeKey, limits] of Object.entries(own.routes))
      routes[routeKey] = { ...routes[routeKey], ...limits };
    apis.set(resource.refs.ref, { defaults: { ...globals.defaults, ...own.defaults }, routes });
  }
  // The stages of plain AWS::ApiGatewayV2 APIs, by their ApiId (the API's `Ref`): the same settings, per stage.
  const stages = new Map<string, ApiThrottleSettings>();
  for (const resource of Object.values(stack.resources)) {
    if (resource.type !== 'AWS::ApiGatewayV2::Stage') continue;
    const own = settingsOf(resource.properties, { resource: resource.logicalId, path: '' }, findings);
    // Only the $default stage is served locally (its URL has no stage prefix).
    const name = resource.properties.StageName;
    if (typeof resource.properties.ApiId === 'string' && (name === undefined || name === '$default'))
      stages.set(resource.properties.ApiId, own);
  }
  // By function and event name: the runtime plans the stack again once its ports are bound.
  const events = new Map<string, Limits>();
  for (const fn of Object.values(stack.functions)) {
    for (const event of fn.events) {
      if (event.type !== 'HttpApi') continue;
      const location = { resource: fn.logicalId, path: `Events.${event.name}.Properties.RouteSettings` };
      events.set(
        `${fn.logicalId}.${event.name}`,
        limitsIn(event.properties.RouteSettings, location, findings),
      );
    }
  }
  if (findings.length > 0) {
    throw new TemplateResolveError(
      `invalid HTTP API throttling settings: ${findings.map(formatFinding).join('; ')}`,
    );
  }
  const throttleOf = (chosen: Limits): RouteThrottle => {
    const sources = new Set(THROTTLE_FIELDS.map(([key]) => chosen[key]?.source ?? 'the account-level quota'));
    return {
      rateLimit: chosen.rateLimit?.value ?? ACCOUNT_THROTTLE_LIMITS.rateLimit,
      burstLimit: chosen.burstLimit?.value ?? ACCOUNT_THROTTLE_LIMITS.burstLimit,
      source: [...sources].join(' and '),
    };
  };
  return {
    limitsOf: (fn, event) => {
      const method = String(event.properties.Method ?? 'ANY').toUpperCase();
      const path = String(event.properties.Path ?? '/{proxy+}');
      const routeKey = path === '$default' ? '$default' : `${method} ${path}`;
      const apiId = event.properties.ApiId;
      // Without ApiId the event is on SAM's implicit API, which has only what Globals.HttpApi gives it.
      const api = (typeof apiId === 'string' ? apis.get(apiId) : undefined) ?? globals;
      return throttleOf({
        ...api.defaults,
        ...api.routes[routeKey],
        ...events.get(`${fn.logicalId}.${event.name}`),
      });
    },
    limitsOfRoute: (apiId, routeKey) => {
      const stage = stages.get(apiId);
      return throttleOf({ ...stage?.defaults, ...stage?.routes[routeKey] });
    },
  };
};

/**
 * JWT authorizers of HTTP APIs, as API Gateway documents them
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html):
 * - the token is read from the identity source (`$request.header.Authorization`), alone or prefixed `Bearer `;
 * - its algorithm and signature are checked with the public key, found by the token's `kid`, from the `jwks_uri`
 *   of the issuer's OIDC discovery document (`<issuer>/.well-known/openid-configuration`); only RSA-based
 *   algorithms are supported; public keys may be cached for two hours;
 * - `iss` must equal the configured issuer; `aud` must match one configured audience, or, only when there is no
 *   `aud`, `client_id` must; `exp` must be after now, `nbf` and `iat` before now; when the route has
 *   AuthorizationScopes, `scope` (or `scp`) must hold at least one of them;
 * - a token that fails a check is 401 `{"message":"Unauthorized"}` with a `www-authenticate` header (its form, `Bearer
 *   scope="" error="invalid_token" error_description="the token does not have a valid audience"`, is from
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html) and never
 *   reaches the integration;
 * - a valid token's claims reach the function in `requestContext.authorizer.jwt.claims`, with its scopes in
 *   `requestContext.authorizer.jwt.scopes` (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
 * Not confirmed, and chosen here: the wording of every error_description but the audience one; a `www-authenticate`
 * of `Bearer` alone when there is no token; claim values as strings (numbers and booleans as text, arrays as
 * `[a b]`), as events from real HTTP APIs show them (github.com/awsdocs/amazon-api-gateway-developer-guide/issues/113,
 * github.com/DefinitelyTyped/DefinitelyTyped/pull/75458); `scopes` null on a route without AuthorizationScopes
 * (github.com/aws/aws-lambda-go/issues/317) and the token's scopes on one with them; an issuer that cannot be
 * reached refuses the request with 401 as any other failed check does; a valid token without any of the route's
 * AuthorizationScopes is 403 `{"message":"Forbidden"}` with `Bearer scope="<the route's scopes>"
 * error="insufficient_scope" error_description="expected scopes: [<the route's scopes>]"`, as answers recorded from
 * real HTTP APIs show it (RFC 6750 §3.1 has insufficient_scope answered 403).
 */
export interface JwtAuthorizerConfig {
  /** The authorizer's logical ID, for the log. */
  name: string;
  issuer: string;
  audience: string[];
  /** The request header that holds the token (from `$request.header.<name>`), lower case. */
  header: string;
}

/** What API Gateway hands the function in `requestContext.authorizer.jwt`. */
export interface JwtAuthorization {
  claims: Record<string, string>;
  scopes: string[] | null;
}

export type Authorization =
  | { authorized: true; jwt: JwtAuthorization }
  | { authorized: false; status: 401 | 403; reason: string; challenge: string };

export interface RouteAuthorizer {
  readonly config: JwtAuthorizerConfig;
  authorize(req: IncomingMessage, scopes: readonly string[]): Promise<Authorization>;
}

/** RSA-based JWS algorithms: the only ones HTTP API JWT authorizers support. */
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/** API Gateway may keep an issuer's public keys for two hours. */
const JWKS_CACHE_MS = 2 * 60 * 60 * 1000;

/** How long the discovery document and the key set may take to come. */
const ISSUER_TIMEOUT_MS = 5_000;

type Fetch = (
  url: string,
  init: { headers?: Headers | Record<string, string>; signal?: AbortSignal },
) => Promise<Response>;

/**
 * A fetch that trusts a private CA besides the public ones, for an issuer with a self-signed certificate (a local
 * Keycloak). Over node:https by hand: Node's own fetch takes its CAs only from an undici dispatcher, which Node does
 * not export, and adding undici for one option is more than these few lines.
 */
export const fetchTrusting = (ca: string | undefined): Fetch => {
  if (ca === undefined) return (url, init) => fetch(url, init);
  const trusted = [...rootCertificates, ca];
  return (url, init) =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(
        url,
        {
          method: 'GET',
          ca: trusted,
          headers: Object.fromEntries(new Headers(init.headers)),
          ...(init.signal ? { signal: init.signal } : {}),
        },
        (res) => {
          readBody(res).then((body) => {
            const headers = new Headers();
            for (const [name, value] of Object.entries(res.headers))
              if (typeof value === 'string') headers.set(name, value);
            const status = res.statusCode ?? 502;
            const empty = status === 204 || status === 304;
            resolve(new Response(empty ? null : (body as Buffer), { status, headers })); // no limit: never tooLarge
          }, reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
};

/** A claim as API Gateway passes it on: text. */
const claimText = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Array.isArray(value)
      ? `[${value.map(claimText).join(' ')}]`
      : typeof value === 'object' && value !== null
        ? JSON.stringify(value)
        : String(value);

/** The token's scopes: `scope` is space-separated (RFC 6749 §3.3); `scp` a list or the same text. */
const scopesOf = (payload: JWTPayload): string[] => {
  const raw = payload.scope ?? payload.scp;
  if (Array.isArray(raw)) return raw.map(String);
  return typeof raw === 'string' ? raw.split(' ').filter(Boolean) : [];
};

class TokenRefusedError extends Error {
  constructor(description: string) {
    super(description);
    this.name = 'TokenRefusedError';
  }
}

/** Why jose refused a token, in the words of a `www-authenticate` error_description. */
const descriptionOf = (error: unknown): string => {
  if (error instanceof TokenRefusedError) return error.message;
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'the token does not have a valid issuer';
    if (error.claim === 'nbf') return 'the token is not valid yet';
    return `the token does not have a valid ${error.claim} claim`;
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token has an invalid signature';
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return "no key in the issuer's key set matches the token";
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's signing algorithm is not supported";
  return 'the token is not valid';
};

/**
 * A JWT authorizer: the issuer's discovery document is read on the first request (and again after a failure), and
 * jose fetches, caches and picks its keys and verifies the token.
 */
export const jwtAuthorizer = (
  config: JwtAuthorizerConfig,
  options: { issuerCa?: string; log?: (line: string) => void } = {},
): RouteAuthorizer => {
  const fetchIssuer = fetchTrusting(options.issuerCa);
  const discoveryUrl = `${config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  let keys: Promise<JWTVerifyGetKey> | undefined;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    const response = await fetchIssuer(discoveryUrl, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(ISSUER_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`${discoveryUrl} answered ${response.status}`);
    const document = (await response.json()) as { jwks_uri?: unknown };
    if (typeof document.jwks_uri !== 'string') throw new Error(`${discoveryUrl} has no jwks_uri`);
    return createRemoteJWKSet(new URL(document.jwks_uri), {
      cacheMaxAge: JWKS_CACHE_MS,
      timeoutDuration: ISSUER_TIMEOUT_MS,
      [customFetch]: fetchIssuer,
    });
  };
  // The issuer's failures are logged when they start and when they end, not on every request.
  let unreachable = false;
  const issuerFailed = (error: unknown): never => {
    if (!unreachable) {
      unreachable = true;
      options.log?.(
        `warning: ${config.name} cannot read the issuer's keys (${(error as Error).message}); every request to its routes is answered 401 until it can`,
      );
    }
    throw new TokenRefusedError("the issuer's keys cannot be read");
  };
  const keysRead = () => {
    if (!unreachable) return;
    unreachable = false;
    options.log?.(`${config.name} reads the issuer's keys again`);
  };
  const challenge = (scopes: readonly string[], description?: string) =>
    description === undefined
      ? 'Bearer'
      : `Bearer scope="${scopes.join(' ')}" error="invalid_token" error_description="${description}"`;
  return {
    config,
    authorize: async (req, scopes) => {
      const raw = req.headersDistinct[config.header]?.join(',').trim() ?? '';
      const token = raw.replace(/^Bearer +/i, '').trim();
      if (token === '')
        return { authorized: false, status: 401, reason: 'no token', challenge: challenge(scopes) };
      try {
        // The key must be named: jose would take the only key of a set for a token without a kid.
        let kid: string | undefined;
        try {
          kid = decodeProtectedHeader(token).kid;
        } catch {
          throw new TokenRefusedError('the token is malformed');
        }
        if (kid === undefined) throw new TokenRefusedError('the token has no kid');
        keys ??= discover().catch((error: unknown) => {
          keys = undefined;
          throw error;
        });
        const getKey = await keys.catch(issuerFailed);
        const { payload } = await jwtVerify(token, getKey, {
          issuer: config.issuer,
          algorithms: RSA_ALGORITHMS,
        }).catch((error: unknown) => {
          // A key set that cannot be fetched (no answer, not 200, not JSON) is the issuer's failure, not the token's.
          const fetchFailed =
            !(error instanceof joseErrors.JOSEError) ||
            error instanceof joseErrors.JWKSTimeout ||
            error.code === joseErrors.JOSEError.code;
          if (fetchFailed) return issuerFailed(error);
          keysRead();
          throw error;
        });
        keysRead();
        // aud when the token has one, client_id only when it has not (Cognito access tokens carry client_id).
        const audiences = payload.aud === undefined ? [payload.client_id] : [payload.aud].flat();
        if (!audiences.some((audience) => typeof audience === 'string' && config.audience.includes(audience)))
          throw new TokenRefusedError('the token does not have a valid audience');
        // jose checks iat only against a maximum age; API Gateway wants it in the past.
        if (typeof payload.iat === 'number' && payload.iat > Math.floor(Date.now() / 1000))
          throw new TokenRefusedError('the token was issued in the future');
        const granted = scopesOf(payload);
        if (scopes.length > 0 && !scopes.some((scope) => granted.includes(scope))) {
          // A valid token without a route's scope is forbidden, not unauthorized.
          const expected = scopes.join(' ');
          return {
            authorized: false,
            status: 403,
            reason: 'the token does not have one of the route scopes',
            challenge: `Bearer scope="${expected}" error="insufficient_scope" error_description="expected scopes: [${expected}]"`,
          };
        }
        return {
          authorized: true,
          jwt: {
            claims: Object.fromEntries(
              Object.entries(payload).map(([name, value]) => [name, claimText(value)]),
            ),
            scopes: scopes.length > 0 ? granted : null,
          },
        };
      } catch (error) {
        const description = descriptionOf(error);
        return {
          authorized: false,
          status: 401,
          reason: description,
          challenge: challenge(scopes, description),
        };
      }
    },
  };
};

/**
 * CORS of HTTP APIs, as API Gateway documents it
 * (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html):
 * - a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered by the API itself, whether or not
 *   an OPTIONS route exists, so it meets no authorizer and no function;
 * - other requests with an Origin get the configured headers added to the integration's answer, and the
 *   integration's own CORS headers are dropped;
 * - AllowOrigins holds origins, `*` (any origin), or `https://*` / `http://*` (any origin of that scheme).
 * Not confirmed, and chosen here: a preflight is 204 with no body, and one from an origin not allowed gets no CORS
 * headers (the browser then refuses the call); `*` is answered as `*`, other matches with the request's origin;
 * the CORS headers are added to the API's own answers too (401, 429, 413).
 */
export interface CorsConfiguration {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  allowCredentials: boolean;
  maxAge?: number;
}

/** The Access-Control-Allow-Origin value for an origin, or undefined when it is not allowed. */
const allowedOrigin = (cors: CorsConfiguration, origin: string): string | undefined => {
  const lower = origin.toLowerCase();
  for (const allowed of cors.allowOrigins) {
    if (allowed === '*') return '*';
    const wildcard = /^(https?):\/\/\*$/i.exec(allowed);
    if (wildcard ? lower.startsWith(`${wildcard[1]!.toLowerCase()}://`) : allowed.toLowerCase() === lower)
      return origin;
  }
  return undefined;
};

/** The headers an actual (not preflight) answer to an allowed origin carries. */
const corsHeaders = (cors: CorsConfiguration | undefined, req: IncomingMessage): Record<string, string> => {
  const origin = req.headers.origin;
  if (!cors || origin === undefined) return {};
  const allowed = allowedOrigin(cors, origin);
  if (allowed === undefined) return {};
  return {
    'access-control-allow-origin': allowed,
    ...(cors.exposeHeaders.length ? { 'access-control-expose-headers': cors.exposeHeaders.join(',') } : {}),
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
  };
};

/** The headers of a preflight's answer; empty when the origin is not allowed. */
const preflightHeaders = (cors: CorsConfiguration, origin: string): Record<string, string> => {
  const allowed = allowedOrigin(cors, origin);
  if (allowed === undefined) return {};
  return {
    'access-control-allow-origin': allowed,
    ...(cors.allowMethods.length ? { 'access-control-allow-methods': cors.allowMethods.join(',') } : {}),
    ...(cors.allowHeaders.length ? { 'access-control-allow-headers': cors.allowHeaders.join(',') } : {}),
    ...(cors.maxAge !== undefined ? { 'access-control-max-age': String(cors.maxAge) } : {}),
    ...(cors.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
  };
};

/** A list property, resolved: a list (a YAML list, or a CommaDelimitedList parameter's Ref), or comma-delimited text. */
const listOf = (value: unknown): string[] =>
  (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? value.split(',') : [])
    .map((item) => item.trim())
    .filter(Boolean);

/** An AWS::ApiGatewayV2::Api of the template (ProtocolType HTTP), with what the local runtime needs to serve it. */
export interface PlannedHttpApi {
  logicalId: string;
  /** The API's `Ref` (its ApiId). */
  apiId: string;
  cors?: CorsConfiguration;
  routes: Array<{
    routeKey: string;
    method: string;
    path: string;
    function: PlannedFunction;
    authorizer?: JwtAuthorizerConfig;
    authorizationScopes: string[];
  }>;
}

/**
 * The template's plain HTTP APIs (AWS::ApiGatewayV2::Api, ProtocolType HTTP, whose condition holds), with each
 * route's Lambda proxy integration and JWT authorizer; what the runtime cannot serve is refused, named, before
 * anything starts.
 */
export const plainHttpApis = (stack: LocalStack): PlannedHttpApi[] => {
  const findings: Finding[] = [];
  const resources = Object.values(stack.resources);
  const byRef = (type: string, ref: unknown) =>
    resources.find((resource) => resource.type === type && resource.refs.ref === ref);
  const apis: PlannedHttpApi[] = [];
  for (const api of resources) {
    if (api.type !== 'AWS::ApiGatewayV2::Api' || api.properties.ProtocolType !== 'HTTP') continue;
    const rawCors = api.properties.CorsConfiguration;
    const cors: CorsConfiguration | undefined = isMap(rawCors)
      ? {
          allowOrigins: listOf(rawCors.AllowOrigins),
          allowMethods: listOf(rawCors.AllowMethods),
          allowHeaders: listOf(rawCors.AllowHeaders),
          exposeHeaders: listOf(rawCors.ExposeHeaders),
          allowCredentials: rawCors.AllowCredentials === true || rawCors.AllowCredentials === 'true',
          ...(rawCors.MaxAge !== undefined ? { maxAge: Number(rawCors.MaxAge) } : {}),
        }
      : undefined;
    const routes: PlannedHttpApi['routes'] = [];
    for (const route of resources) {
      if (route.type !== 'AWS::ApiGatewayV2::Route' || route.properties.ApiId !== api.refs.ref) continue;
      const location = { resource: route.logicalId, path: '' };
      const routeKey = String(route.properties.RouteKey ?? '');
      const [method, path] = routeKey === '$default' ? ['ANY', '$default'] : routeKey.split(' ');
      if (!method || !path) {
        findings.push(
          finding(at(location, 'RouteKey'), `must be "METHOD /path" or $default, got "${routeKey}"`),
        );
        continue;
      }
      const integrationId = /^integrations\/(.+)$/.exec(String(route.properties.Target ?? ''))?.[1];
      const integration = byRef('AWS::ApiGatewayV2::Integration', integrationId);
      const uri = String(integration?.properties.IntegrationUri ?? '');
      const fn = Object.values(stack.functions).find(
        (candidate) => uri === candidate.arn || uri.includes(`/functions/${candidate.arn}/`),
      );
      if (integration?.properties.IntegrationType !== 'AWS_PROXY' || !fn) {
        findings.push(
          finding(at(location, 'Target'), 'must name an AWS_PROXY integration of a function of the template'),
        );
        continue;
      }
      if (String(integration.properties.PayloadFormatVersion ?? '') !== '2.0') {
        findings.push(
          finding(
            { resource: integration.logicalId, path: 'PayloadFormatVersion' },
            'only payload format 2.0 is served locally',
          ),
        );
        continue;
      }
      const type = String(route.properties.AuthorizationType ?? 'NONE');
      let authorizer: JwtAuthorizerConfig | undefined;
      if (type === 'JWT') {
        const found = byRef('AWS::ApiGatewayV2::Authorizer', route.properties.AuthorizerId);
        const jwt = found?.properties.JwtConfiguration;
        const source = listOf(found?.properties.IdentitySource)[0] ?? '';
        const header = /^\$request\.header\.(.+)$/.exec(source)?.[1];
        if (found?.properties.AuthorizerType !== 'JWT' || !isMap(jwt) || !header) {
          findings.push(
            finding(
              at(location, 'AuthorizerId'),
              'must name a JWT authorizer with a JwtConfiguration and a $request.header identity source',
            ),
          );
          continue;
        }
        authorizer = {
          name: found.logicalId,
          issuer: String(jwt.Issuer ?? ''),
          audience: listOf(jwt.Audience),
          header: header.toLowerCase(),
        };
      } else if (type !== 'NONE') {
        findings.push(
          finding(at(location, 'AuthorizationType'), `${type} is not served locally (NONE or JWT)`),
        );
        continue;
      }
      routes.push({
        routeKey,
        method: method.toUpperCase(),
        path,
        function: fn,
        ...(authorizer ? { authorizer } : {}),
        authorizationScopes: listOf(route.properties.AuthorizationScopes),
      });
    }
    apis.push({ logicalId: api.logicalId, apiId: api.refs.ref, ...(cors ? { cors } : {}), routes });
  }
  if (findings.length > 0) {
    throw new TemplateResolveError(
      `HTTP APIs the local runtime cannot serve: ${findings.map(formatFinding).join('; ')}`,
    );
  }
  return apis;
};

/** HTTP APIs accept payloads up to 10 MB. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

/** Lambda's synchronous invoke takes an event of at most 6 MB (6,291,456 bytes); a larger one never runs. */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * The bodies an HTTP API (payload format 2.0) hands the function as text; every other body arrives base64, as
 * reported from real HTTP APIs: `application/cloudevents+json` and other `+json` types, form bodies and bodies
 * without a Content-Type are base64.
 */
const TEXT_TYPES = /^\s*(text\/[^;]*|application\/(json|xml|javascript))\s*(;|$)/i;

/** A route's key, as API Gateway names it in the event: `POST /events`, or `$default`. */
const routeKeyOf = (route: { method: string; path: string }): string =>
  route.path === '$default' ? '$default' : `${route.method} ${route.path}`;

const compile = (path: string): RegExp => {
  // The $default route catches every request no other route matches, whatever its path and method.
  if (path === '$default') return /^/;
  const pattern = path
    .split('/')
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) return `(?<${greedy[1]}>.+)`;
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) return `(?<${param[1]}>[^/]+)`;
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return new RegExp(`^${pattern}$`);
};

const formatTime = (date: Date): string => {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000`;
};

export const toEventV2 = (
  req: IncomingMessage,
  body: Buffer,
  route: { routeKey: string; pathParameters?: Record<string, string> },
  apiId: string,
): APIGatewayProxyEventV2 => {
  const url = new URL(req.url ?? '/', 'http://local');
  // The query string as sent: URL parsing re-encodes some characters (a quote becomes %27).
  const target = req.url ?? '/';
  const rawQueryString = target.includes('?') ? target.slice(target.indexOf('?') + 1) : '';
  // Repeated headers are joined with bare commas, as API Gateway does ("value1,value2"), every copy kept.
  const headers: Record<string, string> = {};
  for (const [name, values] of Object.entries(req.headersDistinct)) {
    if (values !== undefined && name !== 'cookie') headers[name] = values.join(',');
  }
  const query: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString))
    query[name] = name in query ? `${query[name]},${value}` : value;
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  // A text type whose bytes are not UTF-8 cannot be handed over as text without changing them (each bad byte
  // would become U+FFFD): it goes base64, so the function sees the bytes sent and can refuse them. What API
  // Gateway does with such a body is not documented.
  const isText =
    body.byteLength === 0 || (contentType !== '' && TEXT_TYPES.test(contentType) && isUtf8(body));
  const cookies = req.headers.cookie?.split(/;\s*/).filter(Boolean);
  return {
    version: '2.0',
    routeKey: route.routeKey,
    rawPath: url.pathname,
    rawQueryString,
    ...(cookies?.length ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    requestContext: {
      accountId: '000000000000',
      apiId,
      domainName: headers.host ?? '127.0.0.1',
      domainPrefix: (headers.host ?? '127').split('.')[0]!,
      http: {
        method: req.method ?? 'GET',
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: route.routeKey,
      stage: '$default',
      time: formatTime(now),
      timeEpoch: now.getTime(),
    },
    ...(route.pathParameters && Object.keys(route.pathParameters).length
      ? { pathParameters: route.pathParameters }
      : {}),
    ...(body.byteLength > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
    isBase64Encoded: !isText,
  } as APIGatewayProxyEventV2;
};

/** Percent-decoded, each run of escapes that is not valid UTF-8 (and each stray `%`) left as it came. */
const decodedOrRaw = (value: string): string =>
  value.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });

/** Whether a request comes with a body (RFC 9112 §6.3: a Content-Length above 0, or a Transfer-Encoding). */
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;

export interface RunningHttpApi {
  endpoint: string;
  server: Server;
  close(): Promise<void>;
}

export const startHttpApi = async (
  routes: HttpRoute[],
  options: {
    port: number;
    host?: string;
    apiId?: string;
    log?: (line: string) => void;
    /** The throttling buckets' clock (tests move it by hand). */
    clock?: Pick<Clock, 'now'>;
    /** The API's CorsConfiguration: preflights are answered here, and allowed origins get the headers. */
    cors?: CorsConfiguration;
  },
): Promise<RunningHttpApi> => {
  // API Gateway tries the most specific route first: a path without variables, then with variables, then a greedy
  // {proxy+}, then $default; within each, a route for the method before one for ANY.
  const rank = (route: HttpRoute): number =>
    (route.path === '$default'
      ? 30
      : /\{\w+\+\}/.test(route.path)
        ? 20
        : /\{\w+\}/.test(route.path)
          ? 10
          : 0) + (route.method === 'ANY' ? 1 : 0);
  const compiled = [...routes]
    .sort((a, b) => rank(a) - rank(b))
    .map((route) => ({ route, pattern: compile(route.path) }));
  const throttles = new Map(
    routes.map((route) => {
      const limits = route.throttle ?? { ...ACCOUNT_THROTTLE_LIMITS, source: 'the account-level quota' };
      options.log?.(
        `${routeKeyOf(route)} → ${route.functionName}: throttled at ${limits.rateLimit} requests/s, burst ${limits.burstLimit} (${limits.source})`,
      );
      // How many requests in a row were throttled: a run is logged when it starts and when it ends, not each one.
      return [route, { bucket: new TokenBucket(limits, options.clock), throttledInRow: 0 }];
    }),
  );
  const server = createServer((req, res) => {
    // One request's failure is that request's: a client that goes away, or a function's answer that cannot be
    // sent, never takes the runtime down with it.
    handle(req, res).catch((error: Error) => {
      options.log?.(`${req.method} ${req.url}: ${error.message}`);
      if (res.headersSent || res.destroyed) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Internal Server Error' }));
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const cors = corsHeaders(options.cors, req);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers, ...cors });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://local');
    const method = (req.method ?? 'GET').toUpperCase();
    const origin = req.headers.origin;
    if (
      options.cors &&
      method === 'OPTIONS' &&
      origin !== undefined &&
      req.headers['access-control-request-method']
    ) {
      // A preflight: answered by the API, before any route, authorizer or function.
      res.writeHead(204, preflightHeaders(options.cors, origin));
      res.end();
      return;
    }
    let matched: { route: HttpRoute; pathParameters: Record<string, string> } | undefined;
    for (const { route, pattern } of compiled) {
      const match = pattern.exec(url.pathname);
      if (match && (route.method === 'ANY' || route.method === method || route.path === '$default')) {
        // API Gateway decodes the path parameters it hands over.
        const pathParameters = Object.fromEntries(
          Object.entries(match.groups ?? {}).map(([name, value]) => [name, decodedOrRaw(value)]),
        );
        matched = { route, pathParameters };
        break;
      }
    }
    if (!matched) return send(404, { message: 'Not Found' });

    const throttle = throttles.get(matched.route)!;
    const routeKey = routeKeyOf(matched.route);
    if (!throttle.bucket.tryTake()) {
      if (throttle.throttledInRow++ === 0) {
        const { rateLimit, burstLimit } = throttle.bucket.limits;
        options.log?.(
          `${routeKey} throttled: over ${rateLimit} requests/s (burst ${burstLimit}), answering 429 without invoking ${matched.route.functionName}`,
        );
      }
      // Answered before the body is read (the rest of it is not: the connection closes after the answer), and the
      // function is not invoked. The body is API Gateway's, as seen from HTTP APIs (3rd-party reports:
      // github.com/pulumi/pulumi-aws/issues/2363, github.com/terraform-aws-modules/terraform-aws-apigateway-v2/issues/13).
      if (hasBody(req)) closeAfterAnswer(req, res);
      return send(429, { message: 'Too Many Requests' });
    }
    if (throttle.throttledInRow > 0) {
      options.log?.(`${routeKey} passes again after ${throttle.throttledInRow} requests answered 429`);
      throttle.throttledInRow = 0;
    }

    const { route } = matched;
    let jwt: JwtAuthorization | undefined;
    if (route.authorizer) {
      const authorization = await route.authorizer.authorize(req, route.authorizationScopes ?? []);
      if (!authorization.authorized) {
        options.log?.(
          `${routeKey} refused by ${route.authorizer.config.name} (${authorization.reason}): ${authorization.status} without invoking ${route.functionName}`,
        );
        // The body is not read: the connection closes after the answer.
        if (hasBody(req)) closeAfterAnswer(req, res);
        return send(
          authorization.status,
          { message: authorization.status === 403 ? 'Forbidden' : 'Unauthorized' },
          { 'www-authenticate': authorization.challenge },
        );
      }
      jwt = authorization.jwt;
    }

    const body = await readBody(req, MAX_PAYLOAD_BYTES);
    // The rest of the upload is not read: the connection is closed after the answer.
    if (!Buffer.isBuffer(body)) {
      closeAfterAnswer(req, res);
      return send(413, { message: 'Request Entity Too Large' });
    }
    const event = toEventV2(
      req,
      body,
      { routeKey, pathParameters: matched.pathParameters },
      options.apiId ?? 'local',
    );
    // As APIGatewayProxyEventV2WithJWTAuthorizer has it.
    if (jwt) Object.assign(event.requestContext, { authorizer: { jwt } });
    if (Buffer.byteLength(JSON.stringify(event)) > MAX_INVOKE_PAYLOAD_BYTES) {
      // Lambda refuses the invoke (RequestEntityTooLargeException) and the function never runs.
      options.log?.(`${method} ${url.pathname} → ${route.functionName} refused: the event is over 6 MB`);
      return send(413, { message: 'Request Entity Too Large' });
    }
    const result = await route.invoke(event).catch((error: Error) => ({
      requestId: event.requestContext.requestId,
      payload: { errorMessage: error.message },
      functionError: 'Unhandled' as const,
      durationMs: 0,
    }));
    const apigwHeaders = { 'apigw-requestid': event.requestContext.requestId };
    options.log?.(
      `${method} ${url.pathname} → ${route.functionName} ${result.functionError ? 'error' : 'ok'} in ${Math.round(result.durationMs)} ms`,
    );
    if (result.functionError) return send(500, { message: 'Internal Server Error' }, apigwHeaders);
    const payload = result.payload as Record<string, unknown> | null;
    if (payload && typeof payload === 'object' && 'statusCode' in payload) {
      const headers: Record<string, string | string[]> = { ...apigwHeaders };
      for (const [k, v] of Object.entries((payload.headers ?? {}) as Record<string, unknown>)) {
        // With a CorsConfiguration, API Gateway ignores the integration's CORS headers and sends its own.
        if (options.cors && /^access-control-/i.test(k)) continue;
        headers[k] = String(v);
      }
      Object.assign(headers, cors);
      if (Array.isArray(payload.cookies)) headers['set-cookie'] = payload.cookies.map(String);
      const raw = payload.body === undefined ? '' : String(payload.body);
      // An answer the gateway could not send (no valid status, a header it cannot carry) is its 500.
      const status = Number(payload.statusCode);
      if (!Number.isInteger(status) || status < 100 || status > 599) {
        return send(500, { message: 'Internal Server Error' }, apigwHeaders);
      }
      try {
        res.writeHead(status, headers);
      } catch {
        return send(500, { message: 'Internal Server Error' }, apigwHeaders);
      }
      res.end(payload.isBase64Encoded ? Buffer.from(raw, 'base64') : raw);
      return;
    }
    return send(200, payload, apigwHeaders);
  };
  return { ...(await listenOn(server, options.port, options.host)), server };
};
