import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  CloudWatchClient,
  cloudWatchSource,
  type IteratorAgeSource,
  localStatusSource,
  unavailableSource,
} from '#bench/load/iterator-age.ts';
import { runLoad } from '#bench/load/load-test.ts';
import { LOAD_USAGE, LoadInputError, parseLoadArgs } from '#bench/load/options.ts';
import {
  failedCallsStoppedRun,
  formatLoadSummary,
  loadChartSvg,
  reportBaseName,
} from '#bench/load/report.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '#local/emulators/index.ts';
import { onStopSignals, signalExitCode } from '#scripts/lib/signals.ts';
import { explainFailure, failureHint, requireOutput, stackOutputs } from '#scripts/lib/stack-target.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { HTTP_OPTIONS } from '#shared/clients/http-options.ts';
import { KINESIS_CLIENT_SETTINGS } from '#shared/clients/kinesis-settings.ts';

/**
 * `npm run load -- --rate 2000 --seconds 30 [--stream NAME] [--endpoint URL | --stack NAME] [--shards-report]`
 * Exit status: 0 a full run that wrote records; 1 a run that stopped early, wrote nothing or could not write its
 * report; 2 a usage error or an --out that cannot be written; 128 + the signal's number when interrupted.
 */
let options: ReturnType<typeof parseLoadArgs>;
if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
  console.log(LOAD_USAGE);
  process.exit(0);
}
try {
  options = parseLoadArgs(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof LoadInputError)) throw error;
  console.error(`load: ${error.message}\n${LOAD_USAGE}`);
  process.exit(2);
}

// The report's folder is checked before anything is sent: a run whose report cannot be written is lost.
try {
  mkdirSync(options.outDir, { recursive: true });
  accessSync(options.outDir, constants.W_OK);
} catch (error) {
  console.error(`load: --out ${options.outDir} cannot hold the report: ${(error as Error).message}`);
  process.exit(2);
}

/**
 * A deployed pipeline: its stream (--stream, or the stack's StreamName output) and its consumer function, whose
 * IteratorAge the load test charts. A stack deployed before the ConsumerFunctionName output existed still runs the
 * load; the report then says why there is no iterator age.
 */
const deployedPipeline = async (stack: string, region: string | undefined, stream: string | undefined) => {
  const cloudformation = new CloudFormationClient(region ? { region } : {});
  try {
    const outputs = await stackOutputs(cloudformation, stack);
    return {
      stream: stream ?? requireOutput(outputs, stack, 'StreamName'),
      consumerFunction: outputs.ConsumerFunctionName,
    };
  } finally {
    cloudformation.destroy();
  }
};

const target = options.target;
let client: KinesisClient;
let stream: string;
/** The iterator-age source, made when the load starts: CloudWatch's data points are placed from that moment. */
let iteratorAgeFrom: (startedAt: Date) => IteratorAgeSource;
let cloudwatch: CloudWatchClient | undefined;
try {
  if (target.kind === 'local') {
    stream = target.stream;
    client = new KinesisClient({
      ...KINESIS_CLIENT_SETTINGS,
      endpoint: target.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      requestHandler: keepAliveHandler(),
      maxAttempts: 1,
    });
    iteratorAgeFrom = () => localStatusSource(target.endpoint, stream);
  } else {
    const deployed = await deployedPipeline(target.stack, target.region, target.stream);
    stream = deployed.stream;
    const region = target.region ? { region: target.region } : {};
    client = new KinesisClient({
      ...KINESIS_CLIENT_SETTINGS,
      ...region,
      requestHandler: keepAliveHandler(),
      maxAttempts: 1,
    });
    const { consumerFunction } = deployed;
    if (consumerFunction) {
      const metrics = new CloudWatchClient({ ...region, requestHandler: HTTP_OPTIONS });
      cloudwatch = metrics;
      iteratorAgeFrom = (startedAt) => cloudWatchSource(metrics, consumerFunction, startedAt);
    } else {
      iteratorAgeFrom = () =>
        unavailableSource(
          'CloudWatch AWS/Lambda IteratorAge',
          `stack ${target.stack} has no ConsumerFunctionName output (deploy this template again to chart the consumer)`,
        );
    }
  }
} catch (error) {
  console.error(`load: could not find the stream: ${explainFailure(error as Error)}`);
  process.exit(1);
}

// The first SIGINT or SIGTERM stops the run, which then writes the report of what it sent; a second quits at once.
const stop = new AbortController();
onStopSignals(
  (signal) => {
    console.error(
      `load: ${signal}: stopping; the report of what was sent follows (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again quits at once, without it)`,
    );
    stop.abort(signal);
  },
  (signal) => {
    console.error(`load: ${signal} again: quitting without a report`);
    process.exit(signalExitCode(signal));
  },
);

/** Where the records go, as the start line and a failure's hint name it. */
const destination = target.kind === 'local' ? target.endpoint : `stack ${target.stack}`;
console.log(`load: ${options.rate} records/s for ${options.seconds} s into ${stream} (${destination})`);
/** The last PutRecords call that failed as a whole: a run that wrote nothing says what to do about it. */
let lastFailure: Error | undefined;
const report = await runLoad({
  client,
  stream,
  rate: options.rate,
  seconds: options.seconds,
  users: options.users,
  iteratorAge: iteratorAgeFrom(new Date()),
  metricsWaitMs: options.metricsWait * 1000,
  signal: stop.signal,
  log: (message) => console.error(`load: ${message}`),
  failedCall: (error) => {
    lastFailure = error;
  },
});
client.destroy();
cloudwatch?.destroy();

// The summary first: it is on the screen even when the files cannot be written.
console.log(formatLoadSummary(report, options.shardsReport));
// Calls that never reached the stream and stopped the run (not one that failed in a run Ctrl-C stopped), explained
// as replay and reprocess explain theirs: no local runtime at the endpoint, its HTTP API (--port) named instead of
// its AWS endpoint, no credentials or region for a stack.
const hint =
  lastFailure && failedCallsStoppedRun(report) ? failureHint(lastFailure, 'Kinesis API') : undefined;
if (hint !== undefined) {
  console.error(`load: PutRecords to ${destination} failed: ${hint}`);
}
let written = false;
try {
  mkdirSync(options.outDir, { recursive: true });
  const base = join(options.outDir, reportBaseName(report.startedAt));
  writeFileSync(`${base}.json`, `${JSON.stringify({ target, ...report }, null, 2)}\n`);
  writeFileSync(`${base}.svg`, loadChartSvg(report));
  console.log(`wrote ${base}.json and ${base}.svg`);
  written = true;
} catch (error) {
  console.error(`load: could not write the report to ${options.outDir}: ${(error as Error).message}`);
}
if (report.interrupted) {
  process.exitCode = signalExitCode(report.interrupted as NodeJS.Signals);
} else if (!written || report.stoppedEarly !== undefined || report.sent === 0 || report.written === 0) {
  process.exitCode = 1;
}
