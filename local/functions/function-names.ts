/**
 * The names a local function goes by, shared by every place that takes one (the Lambda API, the fault settings):
 * its logical id, and the template's FunctionName when it has one (local-reprocessor), as on AWS.
 */

export interface FunctionNames {
  logicalId: string;
  /** The template's FunctionName, resolved. */
  functionName?: string;
}

/** Whether the function goes by `name`: its logical id or its FunctionName. */
export const goesBy = (fn: FunctionNames, name: string): boolean =>
  fn.logicalId === name || (fn.functionName !== undefined && fn.functionName === name);

/** The function `name` names: a logical id first, then a FunctionName (one may equal another's logical id). */
export const findByName = <T extends FunctionNames>(functions: Iterable<T>, name: string): T | undefined => {
  const all = [...functions];
  return all.find((fn) => fn.logicalId === name) ?? all.find((fn) => goesBy(fn, name));
};

/** The function's names for a message: `ReprocessorFunction (local-reprocessor)`, or its logical id alone. */
export const describeNames = (fn: FunctionNames): string =>
  fn.functionName && fn.functionName !== fn.logicalId ? `${fn.logicalId} (${fn.functionName})` : fn.logicalId;

/** A FunctionName of the Lambda API: a name, a partial ARN (account:function:name) or a full ARN, each with an optional qualifier. */
const FUNCTION_NAME =
  /^(?:arn:aws[a-zA-Z-]*:lambda:(?<region>[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d):)?(?:(?<account>\d{12}):)?(?:function:)?(?<name>[a-zA-Z0-9_.-]+)(?::(?<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$/;

/** The pattern AWS names when it refuses a FunctionName. */
export const FUNCTION_NAME_PATTERN =
  '(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?';

export interface FunctionReference {
  region?: string;
  account?: string;
  name: string;
  qualifier?: string;
}

/** The parts of a FunctionName, or undefined when it is not one (AWS answers ValidationException). */
export const parseFunctionName = (raw: string): FunctionReference | undefined => {
  const groups = FUNCTION_NAME.exec(raw)?.groups;
  if (!groups) return undefined;
  return {
    name: groups.name!,
    ...(groups.region ? { region: groups.region } : {}),
    ...(groups.account ? { account: groups.account } : {}),
    ...(groups.qualifier ? { qualifier: groups.qualifier } : {}),
  };
};
