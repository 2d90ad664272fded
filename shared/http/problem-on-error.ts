import type { Logger } from '@aws-lambda-powertools/logger';
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { PROBLEM_TYPES, problemResponse } from './problem.ts';

/**
 * The last line of defence of an HTTP handler: an unexpected error becomes a 500 problem document that names the
 * request, never the error's internals; the error itself goes to the log.
 */
export const problemOnError = (
  logger: Logger,
): MiddlewareObj<unknown, APIGatewayProxyStructuredResultV2> => ({
  onError: async (request) => {
    logger.error('request failed', { error: request.error as Error });
    const requestId = (request.event as { requestContext?: { requestId?: string } })?.requestContext
      ?.requestId;
    request.response = problemResponse({
      type: PROBLEM_TYPES.internal,
      title: 'Internal error',
      status: 500,
      detail:
        'The request failed because of an internal error. Some events may have been written; resending all of them is safe.',
      ...(requestId ? { instance: requestId } : {}),
    });
  },
});
