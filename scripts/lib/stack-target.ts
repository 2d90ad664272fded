import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '#local/emulators/index.ts';

/**
 * Where an operations command acts: the local runtime (its single AWS endpoint, functions named by logical id)
 * or a deployed stack, whose functions are found through the stack's outputs. Either way a function is called
 * through the Lambda Invoke API, so the command does exactly what an operator with the AWS CLI would do.
 */

export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

export interface Target {
  description: string;
  /** Invokes a function synchronously and returns its JSON answer; a function error becomes a TargetError. */
  invoke<T>(logicalId: string, payload: unknown): Promise<T>;
  destroy(): void;
}

export const DEFAULT_LOCAL_ENDPOINT = 'http://127.0.0.1:4566';

/** The `parseArgs` options every operations command shares: where it acts, how it answers, and help. */
export const TARGET_OPTIONS = {
  'dry-run': { type: 'boolean', default: false },
  endpoint: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const decode = (payload: Uint8Array | undefined): unknown => {
  const text = payload ? Buffer.from(payload).toString('utf8') : '';
  return text === '' ? null : JSON.parse(text);
};

const invoker = (lambda: LambdaClient, nameOf: (logicalId: string) => Promise<string>) =>
  async function invoke<T>(logicalId: string, payload: unknown): Promise<T> {
    const name = await nameOf(logicalId);
    const answer = await lambda.send(
      new InvokeCommand({
        FunctionName: name,
        InvocationType: 'RequestResponse',
        Payload: JSON.stringify(payload),
      }),
    );
    const body = decode(answer.Payload);
    if (answer.FunctionError) {
      const error = body as { errorType?: string; errorMessage?: string } | null;
      throw new TargetError(
        `${logicalId} failed: ${error?.errorType ?? 'Error'}: ${error?.errorMessage ?? 'no message'}`,
      );
    }
    return body as T;
  };

/** The local runtime at `endpoint`; functions are named by their logical ids there. */
export const localTarget = (endpoint = DEFAULT_LOCAL_ENDPOINT): Target => {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    throw new TargetError(
      `--endpoint must be a URL such as ${DEFAULT_LOCAL_ENDPOINT} (the local runtime's AWS endpoint), got '${endpoint}'`,
    );
  }
  const lambda = new LambdaClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
  });
  return {
    description: `local runtime at ${endpoint}`,
    invoke: invoker(lambda, async (logicalId) => logicalId),
    destroy: () => lambda.destroy(),
  };
};

/**
 * A deployed stack's outputs, by key. A stack that does not exist becomes a TargetError; CloudFormation answers
 * it with a ValidationError ("Stack with id X does not exist").
 */
export const stackOutputs = async (
  cloudformation: CloudFormationClient,
  stackName: string,
): Promise<Record<string, string>> => {
  const { Stacks = [] } = await cloudformation
    .send(new DescribeStacksCommand({ StackName: stackName }))
    .catch((error: Error) => {
      if (error.name === 'ValidationError' && /does not exist/.test(error.message)) {
        throw new TargetError(`stack ${stackName} not found`);
      }
      throw error;
    });
  const stack = Stacks[0];
  if (!stack) throw new TargetError(`stack ${stackName} not found`);
  return Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
};

/** One of a stack's outputs; a missing one is a TargetError that names it. */
export const requireOutput = (outputs: Record<string, string>, stackName: string, key: string): string => {
  const found = outputs[key];
  if (!found) throw new TargetError(`stack ${stackName} has no output ${key}`);
  return found;
};

/** A deployed stack: `<LogicalId>Name` outputs give the function names. */
export const stackTarget = (
  stackName: string,
  region?: string,
  clients: { cloudformation?: CloudFormationClient; lambda?: LambdaClient } = {},
): Target => {
  const cloudformation = clients.cloudformation ?? new CloudFormationClient(region ? { region } : {});
  const lambda = clients.lambda ?? new LambdaClient(region ? { region } : {});
  let outputs: Promise<Record<string, string>> | undefined;
  return {
    description: `stack ${stackName}`,
    invoke: invoker(lambda, async (logicalId) => {
      // Read once per command; a failed read is not kept, so the next call asks again.
      outputs ??= stackOutputs(cloudformation, stackName).catch((error: unknown) => {
        outputs = undefined;
        throw error;
      });
      return requireOutput(await outputs, stackName, `${logicalId}Name`);
    }),
    destroy: () => {
      cloudformation.destroy();
      lambda.destroy();
    },
  };
};

/**
 * What to do about a failed call that never reached its API, or undefined when the error is not one of the usual
 * causes (no local runtime at the endpoint, another server there, no region or credentials for a stack). `api` names
 * what the command calls: the Lambda Invoke API (replay, reprocess) or the Kinesis API (load).
 */
export const failureHint = (error: Error, api = 'Lambda Invoke API'): string | undefined => {
  const { message } = error;
  const code = (error as Error & { code?: string }).code;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED/.test(message)) {
    return 'nothing answers there. Is the local runtime running (npm start)? Name its endpoint with --endpoint, or a deployed stack with --stack';
  }
  // The API's path answered 404 with no error of the API's own (Lambda answers a missing function with a 404 of its
  // own): another server, such as the local runtime's HTTP API, is at that address.
  if (
    message === 'Not Found' ||
    ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 &&
      !/Function not found/i.test(message))
  ) {
    return `the endpoint has no ${api}. Is it the local runtime's AWS endpoint (npm start's --endpoint-port, 4566 by default) and not its HTTP API (--port, 3000)?`;
  }
  if (/Region is missing/i.test(message)) {
    return "give the stack's region with --region, or set AWS_REGION";
  }
  // The SDK's default chain found no credentials: environment, shared files, SSO, container and instance roles.
  if (error.name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return 'no AWS credentials were found. Set AWS_PROFILE (after aws configure or aws sso login), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  }
  // An AWS host name that does not resolve: a Region that does not exist, or no DNS (no network).
  const host = /ENOTFOUND (\S+\.amazonaws\.com(?:\.cn)?)/.exec(message)?.[1];
  if (host !== undefined) {
    return `${host} cannot be reached. Is --region (or AWS_REGION) a Region that exists, and is there a network?`;
  }
  return undefined;
};

/** A command's failure as the operator should read it: its message, and what to do when `failureHint` knows. */
export const explainFailure = (error: Error, api?: string): string => {
  const hint = failureHint(error, api);
  return hint === undefined ? error.message : `${error.message}: ${hint}`;
};

/** CloudFormation's rule for a stack name: a letter, then letters, digits and hyphens, 128 characters at most. */
const STACK_NAME = /^[A-Za-z][A-Za-z0-9-]{0,127}$/;
/** A stack's unique id, its ARN, which DescribeStacks takes in a name's place. */
const STACK_ID =
  /^arn:aws[a-z-]*:cloudformation:[a-z0-9-]+:\d{12}:stack\/[A-Za-z][A-Za-z0-9-]{0,127}\/[A-Za-z0-9-]+$/;
/** A Region code: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1, eusc-de-east-1. */
const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

/**
 * What is wrong with `--stack` and `--region` as given, before any call: an empty or malformed stack name (an unset
 * shell variable, a typo) would otherwise reach CloudFormation, or, where an empty one reads as none, the local
 * runtime; a malformed Region would fail in the SDK with a message about hostnames.
 */
export const stackFlagsProblem = (options: { stack?: string; region?: string }): string | undefined => {
  const { stack, region } = options;
  if (stack !== undefined && !STACK_NAME.test(stack) && !STACK_ID.test(stack)) {
    return `--stack must be a stack name (a letter, then letters, digits and hyphens, 128 at most) or a stack's ARN, got '${stack}'`;
  }
  if (region !== undefined && !REGION.test(region)) {
    return `--region must be a Region code such as us-east-1 or eu-west-1, got '${region}'`;
  }
  return undefined;
};

/** The target the options name: `--stack` and `--endpoint` exclude each other, and `--region` goes with `--stack`. */
export const targetFrom = (options: { stack?: string; endpoint?: string; region?: string }): Target => {
  const problem = stackFlagsProblem(options);
  if (problem) throw new TargetError(problem);
  if (options.stack !== undefined && options.endpoint !== undefined) {
    throw new TargetError(
      '--endpoint and --stack exclude each other: a deployed stack is reached through AWS itself',
    );
  }
  if (options.region !== undefined && options.stack === undefined) {
    throw new TargetError('--region applies to --stack only; the local runtime is in us-east-1');
  }
  return options.stack !== undefined
    ? stackTarget(options.stack, options.region)
    : localTarget(options.endpoint);
};
