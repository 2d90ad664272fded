import { type NumberRule, numberFlag, parseFlags } from '#scripts/lib/flags.ts';
import { stackFlagsProblem } from '#scripts/lib/stack-target.ts';
import { recordsIn } from './load-test.ts';

/** `npm run load` options, validated. */

export class LoadInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadInputError';
  }
}

export const LOCAL_ENDPOINT = 'http://127.0.0.1:4566';
/** The stream of template.yaml's EventStream in the local runtime (stack `local`). */
export const LOCAL_STREAM = 'local-EventStream';
export const MAX_RATE = 100_000;
export const MAX_SECONDS = 3_600;
/** How long a run against a deployed stack waits by default for CloudWatch's late IteratorAge data points. */
export const STACK_METRICS_WAIT_SECONDS = 240;

export interface LoadOptions {
  rate: number;
  seconds: number;
  /** `local`: the local runtime (or any endpoint); `stack`: a deployed stack, found through CloudFormation. */
  target:
    | { kind: 'local'; endpoint: string; stream: string }
    | { kind: 'stack'; stack: string; stream?: string; region?: string };
  shardsReport: boolean;
  /** Distinct random users (partition keys). */
  users: number;
  /** Folder for load-<timestamp>.json and .svg. */
  outDir: string;
  /** Seconds to go on reading the iterator age after sending, for late data points. */
  metricsWait: number;
}

export const LOAD_USAGE = `usage: npm run load -- --rate N --seconds S [--stream NAME] [--endpoint URL | --stack NAME [--region R]]
          [--shards-report] [--users U] [--metrics-wait W] [--out DIR]

  --rate N       records per second to send, above 0 and at most ${MAX_RATE}
  --seconds S    how long to send, above 0 and at most ${MAX_SECONDS}; rate × seconds must be at least 1 record
  --stream NAME  the stream to write to (default: the local runtime's ${LOCAL_STREAM}, or the stack's StreamName output)
  --endpoint URL the local runtime's AWS endpoint (default: ${LOCAL_ENDPOINT})
  --stack NAME   a deployed stack instead, reached with the default AWS credentials; --region R names its region
  --shards-report  also report per shard the records written (and their rate) and the entries throttled
  --users U      distinct users, each a partition key (default: 10000)
  --metrics-wait W  after sending, go on reading the iterator age for up to W seconds, until a data point of
                 the run's end arrives: CloudWatch's come minutes late (default: ${STACK_METRICS_WAIT_SECONDS} with --stack, 0 locally)
  --out DIR      where the report and its chart are written (default: bench); checked before anything is sent

  Ctrl-C (SIGINT) or SIGTERM stops sending, waits for the calls in flight and writes the report of what was sent,
  marked as interrupted; a second one quits at once. During --metrics-wait it ends the wait.

  exit status: 0 the run took its full time and wrote records; 1 it stopped early (calls kept failing or timed
  out), wrote nothing, or its report could not be written; 2 a usage error or an --out that cannot be written;
  130 (SIGINT) or 143 (SIGTERM) interrupted, with the report of what was sent written`;

export const parseLoadArgs = (argv: string[]): LoadOptions => {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseFlags({
      args: argv,
      strict: true,
      options: {
        rate: { type: 'string' },
        seconds: { type: 'string' },
        stream: { type: 'string' },
        endpoint: { type: 'string' },
        stack: { type: 'string' },
        region: { type: 'string' },
        'shards-report': { type: 'boolean', default: false },
        users: { type: 'string' },
        'metrics-wait': { type: 'string' },
        out: { type: 'string', default: 'bench' },
      },
    }));
  } catch (error) {
    throw new LoadInputError((error as Error).message);
  }
  const text = (flag: string) => values[flag] as string | undefined;
  const number = (flag: string, rule: NumberRule) => numberFlag(flag, text(flag), rule, LoadInputError);
  if (text('endpoint') !== undefined && text('stack') !== undefined) {
    throw new LoadInputError(
      '--endpoint and --stack exclude each other: a deployed stack is reached through AWS itself',
    );
  }
  if (text('region') !== undefined && text('stack') === undefined) {
    throw new LoadInputError('--region applies to --stack only; the local runtime is in us-east-1');
  }
  const stackProblem = stackFlagsProblem({ stack: text('stack'), region: text('region') });
  if (stackProblem) throw new LoadInputError(stackProblem);
  const endpoint = text('endpoint') ?? LOCAL_ENDPOINT;
  if (text('stack') === undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new LoadInputError(`--endpoint must be a URL such as ${LOCAL_ENDPOINT}, got '${endpoint}'`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LoadInputError(`--endpoint must be an http:// or https:// URL, got '${endpoint}'`);
    }
  }
  const stream = text('stream');
  if (stream !== undefined && !/^[a-zA-Z0-9_.-]{1,128}$/.test(stream)) {
    throw new LoadInputError(`--stream must be a stream name (1-128 of a-z A-Z 0-9 _ . -), got '${stream}'`);
  }
  const rate = number('rate', { checks: [{ above: 0 }, { max: MAX_RATE }] });
  const seconds = number('seconds', { checks: [{ above: 0 }, { max: MAX_SECONDS }] });
  if (recordsIn(rate, seconds * 1000) < 1) {
    throw new LoadInputError(
      `--rate ${text('rate')} for --seconds ${text('seconds')} makes less than one record (rate × seconds must be at least 1): the run would send nothing`,
    );
  }
  return {
    rate,
    seconds,
    target:
      text('stack') !== undefined
        ? {
            kind: 'stack',
            stack: text('stack')!,
            ...(stream === undefined ? {} : { stream }),
            ...(text('region') === undefined ? {} : { region: text('region')! }),
          }
        : { kind: 'local', endpoint: endpoint.replace(/\/$/, ''), stream: stream ?? LOCAL_STREAM },
    shardsReport: values['shards-report'] === true,
    users: number('users', {
      fallback: 10_000,
      checks: [{ above: 0 }, { max: 10_000_000 }, { integer: true }],
    }),
    outDir: text('out')!,
    metricsWait: number('metrics-wait', {
      fallback: text('stack') === undefined ? 0 : STACK_METRICS_WAIT_SECONDS,
      checks: [{ min: 0 }, { max: MAX_SECONDS }],
    }),
  };
};
