/**
 * The AWS calls this function's code makes, by IAM action, with the template resources each acts on (logical IDs;
 * `X/*` for the objects of bucket X, `X:*` for the versions and aliases of function X).
 * test/unit/iam-least-privilege.test.ts checks this list against the SDK commands of the function's code and
 * against the role template.yaml gives the function.
 */
export const permissions: Readonly<Record<string, readonly string[]>> = {
  // The shards open at `from` and their descendants, then reading them (shared/kinesis/shard-reader.ts).
  'kinesis:ListShards': ['EventStream'],
  // The stream's creation time and retention: a window the stream no longer holds whole is refused or warned of.
  'kinesis:DescribeStreamSummary': ['EventStream'],
  'kinesis:GetShardIterator': ['EventStream'],
  'kinesis:GetRecords': ['EventStream'],
  // Events into the sink; jobs and shard checkpoints (shared/recovery/job-store.ts).
  'dynamodb:PutItem': ['EventTable', 'ReprocessJobsTable'],
  // The sink: a failed conditional put without the stored item, and every lookup of a dry run; the jobs: reads.
  'dynamodb:GetItem': ['EventTable', 'ReprocessJobsTable'],
  'dynamodb:UpdateItem': ['ReprocessJobsTable'],
  'dynamodb:Query': ['ReprocessJobsTable'],
  // Quarantined records and claim-checked event data.
  's3:PutObject': ['QuarantineBucket/*'],
  // A job goes on in a new asynchronous invocation of this function, by its invoked (maybe qualified) ARN.
  'lambda:InvokeFunction': ['ReprocessorFunction', 'ReprocessorFunction:*'],
};

/** SDK commands in the function's code graph that this function never sends, and why. */
export const notCalled: Readonly<Record<string, string>> = {
  GetObjectCommand:
    'S3ClaimCheck.load reads claim-checked data back for readers of the table; a reprocess only stores it',
};
