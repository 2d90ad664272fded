/**
 * The AWS calls this function's code makes, by IAM action, with the template resources each acts on (logical IDs;
 * `X/*` for the objects of bucket X). Its SQS trigger's own calls come from the template's Events.
 * test/unit/iam-least-privilege.test.ts checks this list against the SDK commands of the function's code and
 * against the role template.yaml gives the function.
 */
export const permissions: Readonly<Record<string, readonly string[]>> = {
  // Reading failed ranges back (shared/kinesis/shard-reader.ts).
  'kinesis:GetShardIterator': ['EventStream'],
  'kinesis:GetRecords': ['EventStream'],
  'dynamodb:PutItem': ['EventTable'],
  // A failed conditional put without the stored item, and every lookup of a dry run.
  'dynamodb:GetItem': ['EventTable'],
  // Quarantined records, claim-checked event data, and messages whose records expired.
  's3:PutObject': ['QuarantineBucket/*'],
  // The on-demand drain; ChangeMessageVisibilityBatch is authorized as ChangeMessageVisibility.
  'sqs:ReceiveMessage': ['ConsumerFailureQueue'],
  'sqs:DeleteMessage': ['ConsumerFailureQueue'],
  'sqs:ChangeMessageVisibility': ['ConsumerFailureQueue'],
  // The failure queue's depth after an on-demand run (the report's `queue`); the SQS trigger needs it too.
  'sqs:GetQueueAttributes': ['ConsumerFailureQueue'],
};

/** SDK commands in the function's code graph that this function never sends, and why. */
export const notCalled: Readonly<Record<string, string>> = {
  GetObjectCommand:
    'S3ClaimCheck.load reads claim-checked data back for readers of the table; a replay only stores it',
};
