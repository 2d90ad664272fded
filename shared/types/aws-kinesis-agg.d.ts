/**
 * The deaggregation half of aws-kinesis-agg on its own. The package root also loads the aggregation half and its
 * `async` dependency, which nothing here uses and which would add ~30 KiB to every bundle that reads a stream.
 */
declare module 'aws-kinesis-agg/lib/kpl-deagg.js' {
  export const deaggregate: typeof import('aws-kinesis-agg').deaggregate;
  export const deaggregateSync: typeof import('aws-kinesis-agg').deaggregateSync;
}
