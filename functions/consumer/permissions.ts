/**
 * The AWS calls this function's code makes, by IAM action, with the template resources each acts on (logical IDs;
 * `X/*` for the objects of bucket X). Its event source mapping's own calls (reading the stream, sending failed
 * batches to the failure queue) come from the template's Events. test/unit/iam-least-privilege.test.ts checks this
 * list against the SDK commands of the function's code and against the role template.yaml gives the function.
 */
export const permissions: Readonly<Record<string, readonly string[]>> = {
  'dynamodb:PutItem': ['EventTable'],
  // Only when a failed conditional put does not carry the stored item.
  'dynamodb:GetItem': ['EventTable'],
  // Quarantined records and claim-checked event data.
  's3:PutObject': ['QuarantineBucket/*'],
};

/** SDK commands in the function's code graph that this function never sends, and why. */
export const notCalled: Readonly<Record<string, string>> = {
  GetObjectCommand:
    'S3ClaimCheck.load reads claim-checked data back for readers of the table; the consumer only stores it',
};
