import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * RFC 9457 problem details. `type` is a URN per kind of problem, so that clients can branch on it without
 * parsing `detail`; extension members (`errors`, `events`) carry the specifics.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export const PROBLEM_TYPES = {
  invalidJson: 'urn:kinesis-pipeline:problem:invalid-json',
  invalidEvents: 'urn:kinesis-pipeline:problem:invalid-events',
  unsupportedMediaType: 'urn:kinesis-pipeline:problem:unsupported-media-type',
  tooLarge: 'urn:kinesis-pipeline:problem:too-large',
  notWritten: 'urn:kinesis-pipeline:problem:not-written',
  internal: 'urn:kinesis-pipeline:problem:internal-error',
} as const;

export const problemResponse = (
  problem: Problem,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 => ({
  statusCode: problem.status,
  headers: { 'content-type': 'application/problem+json', ...headers },
  body: JSON.stringify(problem),
});

export const jsonResponse = (statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});
