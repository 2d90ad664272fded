import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventSourceMapping } from '#local/event-sources.ts';
import { goesBy, parseFunctionName } from '#local/functions/function-names.ts';
import { invalidFunctionName, LambdaApiError, validationError } from '#local/functions/lambda-api-error.ts';
import { sendJsonError, serviceOf } from '#local/gateway.ts';

/**
 * The Lambda API's ListEventSourceMappings and GetEventSourceMapping for the template's event source mappings, in
 * the shape AWS answers them (EventSourceMappingConfiguration): the settings the template declares with AWS's
 * defaults filled in, and the mapping's live state. An operator's `aws lambda list-event-source-mappings` (the
 * ConsumerStalledAlarm row of docs/operations.md) works against the local endpoint as against AWS.
 */

export interface MappingsApiOptions {
  /** The mappings; undefined while the runtime is starting. */
  mappings: () => readonly EventSourceMapping[] | undefined;
  region: string;
  accountId: string;
}

/** ListEventSourceMappings answers at most 100 mappings at a time, whatever MaxItems asks (API reference). */
const PAGE_LIMIT = 100;
const MAX_ITEMS_LIMIT = 10_000;

/** The EventSourceArn pattern of the API reference. */
const EVENT_SOURCE_ARN =
  /^arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9-])+:([a-z]{2}(-gov)?-[a-z]+-\d{1})?:(\d{12})?:(.*)$/;

/** The poller's state as the API's State: Creating, Enabled, Disabling or Disabled. */
const stateOf = (state: string): string => {
  switch (state) {
    case 'running':
      return 'Enabled';
    case 'stopping':
      return 'Disabling';
    case 'disabled':
    case 'stopped':
      return 'Disabled';
    default:
      // 'created' and 'starting': the runtime is making it, as a mapping is Creating on AWS.
      return 'Creating';
  }
};

/** One mapping as GetEventSourceMapping answers it: the members AWS sends for a Kinesis or an SQS mapping. */
export const mappingConfiguration = (
  mapping: EventSourceMapping,
  options: Pick<MappingsApiOptions, 'region' | 'accountId'>,
): Record<string, unknown> => {
  const stats = mapping.poller.stats();
  const common = {
    UUID: mapping.uuid,
    FunctionArn: mapping.function.arn,
    // Seconds since the epoch, with milliseconds, as the restJson1 protocol sends a timestamp.
    LastModified: mapping.live.lastModifiedMs / 1000,
    State: stateOf(stats.state),
    EventSourceMappingArn: `arn:aws:lambda:${options.region}:${options.accountId}:event-source-mapping:${mapping.uuid}`,
  };
  if (mapping.kind === 'SQS') {
    const config = mapping.poller.config;
    return {
      ...common,
      BatchSize: config.BatchSize,
      MaximumBatchingWindowInSeconds: config.MaximumBatchingWindowInSeconds,
      EventSourceArn: mapping.poller.stats().queueArn,
      // What AWS gives a mapping a user made or changed, for SQS; a deleted queue's reason otherwise.
      StateTransitionReason: stats.stateTransitionReason ?? 'USER_INITIATED',
      FunctionResponseTypes: config.FunctionResponseTypes,
      ...(config.ScalingConfig.MaximumConcurrency !== undefined
        ? { ScalingConfig: config.ScalingConfig }
        : {}),
    };
  }
  const config = mapping.poller.config;
  const onFailure = config.DestinationConfig.OnFailure;
  return {
    ...common,
    StartingPosition: config.StartingPosition,
    ...(config.StartingPositionTimestamp !== undefined
      ? { StartingPositionTimestamp: config.StartingPositionTimestamp }
      : {}),
    BatchSize: config.BatchSize,
    MaximumBatchingWindowInSeconds: config.MaximumBatchingWindowInSeconds,
    ParallelizationFactor: config.ParallelizationFactor,
    EventSourceArn: mapping.poller.streamArn,
    LastProcessingResult: mapping.live.lastProcessingResult,
    // What AWS gives a mapping a user made or changed, for a stream; a deleted stream's reason otherwise.
    StateTransitionReason: stats.stateTransitionReason ?? 'User action',
    // SAM's Type is not part of the API's DestinationConfig; an unset destination is an empty OnFailure, as on AWS.
    DestinationConfig: { OnFailure: onFailure ? { Destination: onFailure.Destination } : {} },
    MaximumRecordAgeInSeconds: config.MaximumRecordAgeInSeconds,
    BisectBatchOnFunctionError: config.BisectBatchOnFunctionError,
    MaximumRetryAttempts: config.MaximumRetryAttempts,
    // The local runtime refuses tumbling windows, so the mapping has none.
    TumblingWindowInSeconds: 0,
    FunctionResponseTypes: config.FunctionResponseTypes,
  };
};

/** Whether a mapping's function is the one FunctionName names (a name, a logical id, or a full or partial ARN). */
const functionFilter = (
  raw: string,
  options: Pick<MappingsApiOptions, 'region' | 'accountId'>,
): ((mapping: EventSourceMapping) => boolean) => {
  const parsed = parseFunctionName(raw);
  if (!parsed) throw invalidFunctionName(raw);
  const { region, account, name, qualifier } = parsed;
  // Another region's or account's function, or a version or alias (the local functions have $LATEST only, and
  // the mappings are on the function itself): none of the mappings here.
  if ((region && region !== options.region) || (account && account !== options.accountId) || qualifier) {
    return () => false;
  }
  return (mapping) => goesBy(mapping.function, name);
};

const list = (
  mappings: readonly EventSourceMapping[],
  query: URLSearchParams,
  options: Pick<MappingsApiOptions, 'region' | 'accountId'>,
) => {
  const functionName = query.get('FunctionName');
  const eventSourceArn = query.get('EventSourceArn');
  const marker = query.get('Marker');
  const maxItemsText = query.get('MaxItems');
  let maxItems = PAGE_LIMIT;
  if (maxItemsText !== null) {
    const value = Number(maxItemsText);
    if (!Number.isInteger(value) || value < 1 || value > MAX_ITEMS_LIMIT) {
      throw validationError(
        maxItemsText,
        'maxItems',
        value > MAX_ITEMS_LIMIT
          ? `Member must have value less than or equal to ${MAX_ITEMS_LIMIT}`
          : 'Member must have value greater than or equal to 1',
      );
    }
    maxItems = Math.min(value, PAGE_LIMIT);
  }
  if (eventSourceArn !== null && !EVENT_SOURCE_ARN.test(eventSourceArn)) {
    throw validationError(
      eventSourceArn,
      'eventSourceArn',
      'Member must satisfy regular expression pattern: arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}(-gov)?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)',
    );
  }
  const ofFunction = functionName !== null ? functionFilter(functionName, options) : () => true;
  const configurations = mappings
    .filter(ofFunction)
    .map((mapping) => mappingConfiguration(mapping, options))
    .filter((configuration) => eventSourceArn === null || configuration.EventSourceArn === eventSourceArn);
  // The marker is the UUID of the first mapping of the next page: opaque to a caller, as on AWS.
  let start = 0;
  if (marker !== null && marker !== '') {
    start = configurations.findIndex((configuration) => configuration.UUID === marker);
    if (start < 0) {
      throw new LambdaApiError(400, 'InvalidParameterValueException', `Invalid pagination marker: ${marker}`);
    }
  }
  const page = configurations.slice(start, start + maxItems);
  const next = configurations[start + maxItems];
  return { EventSourceMappings: page, ...(next ? { NextMarker: next.UUID } : {}) };
};

export const lambdaEventSourceMappingsRoute =
  (options: MappingsApiOptions) =>
  async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://l');
    const path = /^\/2015-03-31\/event-source-mappings(?:\/([^/]*))?\/?$/.exec(url.pathname);
    // Other methods (create, update, delete) are left to the Invoke route's answer for an unknown operation.
    if (!path || req.method !== 'GET') return false;
    // A request signed for another service (an S3 bucket named 2015-03-31) is not for Lambda.
    const service = serviceOf(req);
    if (service !== undefined && service !== 'lambda') return false;
    const mappings = options.mappings();
    if (!mappings) {
      sendJsonError(res, 503, 'ServiceException', 'The local runtime is still starting; try again');
      return true;
    }
    try {
      const uuid = path[1] ? decodeURIComponent(path[1]) : '';
      let answer: unknown;
      if (uuid === '') {
        answer = list(mappings, url.searchParams, options);
      } else {
        const mapping = mappings.find((m) => m.uuid === uuid);
        // AWS's answer to an unknown UUID (the SDKs' own tests look for "does not exist").
        if (!mapping)
          throw new LambdaApiError(
            404,
            'ResourceNotFoundException',
            'The resource you requested does not exist.',
          );
        answer = mappingConfiguration(mapping, options);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    } catch (error) {
      if (error instanceof LambdaApiError) sendJsonError(res, error.status, error.type, error.message);
      else if (error instanceof URIError)
        sendJsonError(res, 404, 'ResourceNotFoundException', 'The resource you requested does not exist.');
      else throw error;
    }
    return true;
  };
