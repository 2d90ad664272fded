import { fileURLToPath } from 'node:url';
import { loadTemplate, type Template } from '#local/template/parse.ts';
import { DEFAULT_MAX_BODY_BYTES } from '#shared/ingest/config.ts';

/**
 * What the deployed pipeline can take, read from where it is set (template.yaml and the ingest function's
 * configuration), so that a plan past them says so instead of pricing traffic the pipeline would refuse.
 */
export interface PipelineLimits {
  /** Most shards the stack can be deployed with: template.yaml Parameters.ShardCount.MaxValue. */
  maxShards: number;
  /** Requests per second the ingest API takes before answering 429: Parameters.ApiThrottlingRateLimit.Default. */
  apiRequestsPerSecond: number;
  /** Largest POST /events body the ingest function accepts, in bytes (it answers 413 above it). */
  maxBodyBytes: number;
}

export const TEMPLATE_PATH = fileURLToPath(new URL('../../template.yaml', import.meta.url));

/** `Parameters.<name>.<field>` of the template, which must be a number. */
const numberParameter = (template: Template, name: string, field: string): number => {
  const value = template.Parameters?.[name]?.[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(
      `template.yaml: Parameters.${name}.${field} must be a number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
};

export const pipelineLimits = (template: Template): PipelineLimits => ({
  maxShards: numberParameter(template, 'ShardCount', 'MaxValue'),
  apiRequestsPerSecond: numberParameter(template, 'ApiThrottlingRateLimit', 'Default'),
  maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
});

/** The limits of the pipeline that template.yaml deploys. */
export const loadPipelineLimits = (path = TEMPLATE_PATH): PipelineLimits =>
  pipelineLimits(loadTemplate(path));
