import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  CloudWatchClient,
  cloudWatchSource,
  type IteratorAgeSource,
  localStatusSource,
  unavailableSource,
} from '#bench/load/iterator-age.ts';
import { runLoad } from '#bench/load/load-test.ts';
import { LOAD_USAGE, LoadInputError, parseLoadArgs } from '#bench/load/options.ts';
import { formatLoadSummary, loadChartSvg, reportBaseName } from '#bench/load/report.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '#local/emulators/index.ts';
import { explainFailure, requireOutput, stackOutputs } from '#scripts/lib/stack-target.ts';
import { KINESIS_CLIENT_SETTINGS } from '#shared/clients/kinesis-settings.ts';

/** `npm run load -- --rate 2000 --seconds 30 [--stream NAME] [--endpoint URL | --stack NAME] [--shards-report]` */
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
let iteratorAge: IteratorAgeSource;
let cloudwatch: CloudWatchClient | undefined;
const startedAt = new Date();
try {
  if (target.kind === 'local') {
    stream = target.stream;
    client = new KinesisClient({
      ...KINESIS_CLIENT_SETTINGS,
      endpoint: target.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    iteratorAge = localStatusSource(target.endpoint, stream);
  } else {
    const deployed = await deployedPipeline(target.stack, target.region, target.stream);
    stream = deployed.stream;
    const region = target.region ? { region: target.region } : {};
    client = new KinesisClient({
      ...KINESIS_CLIENT_SETTINGS,
      ...region,
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    if (deployed.consumerFunction) {
      cloudwatch = new CloudWatchClient(region);
      iteratorAge = cloudWatchSource(cloudwatch, deployed.consumerFunction, startedAt);
    } else {
      iteratorAge = unavailableSource(
        'CloudWatch AWS/Lambda IteratorAge',
        `stack ${target.stack} has no ConsumerFunctionName output (deploy this template again to chart the consumer)`,
      );
    }
  }
} catch (error) {
  console.error(`load: could not find the stream: ${explainFailure(error as Error)}`);
  process.exit(1);
}

console.log(
  `load: ${options.rate} records/s for ${options.seconds} s into ${stream} ` +
    `(${target.kind === 'local' ? target.endpoint : `stack ${target.stack}`})`,
);
const report = await runLoad({
  client,
  stream,
  rate: options.rate,
  seconds: options.seconds,
  users: options.users,
  iteratorAge,
  log: (message) => console.error(`load: ${message}`),
});
client.destroy();
cloudwatch?.destroy();

mkdirSync(options.outDir, { recursive: true });
const base = join(options.outDir, reportBaseName(report.startedAt));
writeFileSync(`${base}.json`, `${JSON.stringify({ target, ...report }, null, 2)}\n`);
writeFileSync(`${base}.svg`, loadChartSvg(report));
console.log(formatLoadSummary(report, options.shardsReport));
console.log(`wrote ${base}.json and ${base}.svg`);
if (target.kind === 'local' && report.written === 0 && /ECONNREFUSED/.test(report.stoppedEarly ?? '')) {
  console.error(
    `load: nothing answers at ${target.endpoint}. Is the local runtime running (npm start)? Name its endpoint with --endpoint, or a deployed stack with --stack`,
  );
}
if (report.sent === 0 || report.written === 0) process.exitCode = 1;
