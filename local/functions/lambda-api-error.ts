import { FUNCTION_NAME_PATTERN } from '#local/functions/function-names.ts';

/** A refusal of the local Lambda API (Invoke, the event source mappings): its HTTP status, error type and message. */
export class LambdaApiError extends Error {
  readonly status: number;
  readonly type: string;
  constructor(status: number, type: string, message: string) {
    super(message);
    this.name = 'LambdaApiError';
    this.status = status;
    this.type = type;
  }
}

/** AWS's ValidationException (400) for a request member outside one of the API's constraints. */
export const validationError = (value: string, member: string, constraint: string): LambdaApiError =>
  new LambdaApiError(
    400,
    'ValidationException',
    `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: ${constraint}`,
  );

/** AWS's answer to a FunctionName that is neither a name nor an ARN. */
export const invalidFunctionName = (value: string): LambdaApiError =>
  validationError(
    value,
    'functionName',
    `Member must satisfy regular expression pattern: ${FUNCTION_NAME_PATTERN}`,
  );
