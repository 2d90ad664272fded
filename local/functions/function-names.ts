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
