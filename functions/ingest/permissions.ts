/**
 * The AWS calls this function's code makes, by IAM action, with the template resources each acts on (logical IDs;
 * `X/*` for the objects of bucket X). test/unit/iam-least-privilege.test.ts checks this list against the SDK
 * commands of the function's code and against the role template.yaml gives the function.
 */
export const permissions: Readonly<Record<string, readonly string[]>> = {
  'kinesis:PutRecords': ['EventStream'],
};

/** SDK commands in the function's code graph that this function never sends, and why. */
export const notCalled: Readonly<Record<string, string>> = {};
