import { readFileSync } from 'node:fs';
import { type FaultSettings, validateFaults } from '#local/faults/faults.ts';
import { createLiveView } from '#local/live-view.ts';
import {
  DataDirInUseError,
  listWithAnd,
  PortsUnavailableError,
  RUNTIME_SERVER_NAMES,
  type RuntimeServer,
  startRuntime,
} from '#local/runtime.ts';
import { parseParameterOverrides } from '#local/template/resolve.ts';
import { numberFlag, parseFlags } from '#scripts/lib/flags.ts';
import { onStopSignals, signalExitCode } from '#scripts/lib/signals.ts';

/**
 * `npm start [-- options]`: runs template.yaml locally.
 */

const USAGE = `usage: npm start -- [options]

  --template <file>              template to run (default: template.yaml)
  --parameter-overrides "<K=V>"  parameter values, as sam deploy takes them
  --port <n>                     HTTP API port (default: 3000)
  --jwt-port <n>                 JWT ingest API port, when IngestJwtIssuer is set (default: 3001)
  --jwt-issuer-ca <pem file>     CA certificate to trust for the JWT issuer (a local identity provider
                                 with a self-signed certificate)
  --endpoint-port <n>            AWS endpoint port (default: 4566)
  --data-dir <dir>               where data and checkpoints are kept (default: .local)
  --in-memory                    keep nothing on disk
  --fresh                        start with empty data
  --no-build                     run the bundles already in dist/functions

Fault injection (all off by default; change it while running with a PUT to /_local/faults on the AWS endpoint,
  with the default --endpoint-port: curl -X PUT http://127.0.0.1:4566/_local/faults -d '{"functionPattern": ""}'):
  --fault-put-records-rate <0-1>     fraction of PutRecords entries answered with InternalFailure
  --shard-limits                     enforce 1 MB/s and 1,000 records/s of writes per shard
  --fault-dynamodb <text|/regex/>    DynamoDB writes whose request matches fail
  --fault-dynamodb-mode <mode>       throttle (default) or error
  --fault-function <text|/regex/>    invocations holding a matching record fail
  --fault-function-name <name>       only this function (logical id or FunctionName) gets --fault-function
  -h, --help                         show this help`;

class UsageError extends Error {}

const SERVER_FLAGS: Record<RuntimeServer, string> = {
  api: '--port',
  jwtApi: '--jwt-port',
  endpoint: '--endpoint-port',
};

/** The runtime's refusal of its ports, in the flags that set them: one given twice is bad usage. */
const portsMessage = ({ shared, taken }: PortsUnavailableError): Error => {
  if (shared.length > 0)
    return new UsageError(
      shared
        .map(
          ({ port, servers }) =>
            `${listWithAnd(servers.map((s) => SERVER_FLAGS[s]))} are ${servers.length > 2 ? 'all' : 'both'} ${port}: ${listWithAnd(servers.map((s) => RUNTIME_SERVER_NAMES[s]))} need a port each`,
        )
        .join('; '),
    );
  const ports = taken.map(({ port }) => port);
  const flags = listWithAnd(taken.map(({ server }) => SERVER_FLAGS[server]));
  return new Error(
    taken.length === 1
      ? `port ${ports[0]} is already in use (another local runtime?); stop it, or choose another port with ${flags}`
      : `ports ${listWithAnd(ports.map(String))} are already in use (another local runtime?); stop it, or choose other ports with ${flags}`,
  );
};

const parseOptions = (args: string[]) => {
  try {
    return parseFlags({
      args,
      options: {
        template: { type: 'string', default: 'template.yaml' },
        'parameter-overrides': { type: 'string', default: '' },
        port: { type: 'string', default: '3000' },
        'jwt-port': { type: 'string', default: '3001' },
        'jwt-issuer-ca': { type: 'string' },
        'endpoint-port': { type: 'string', default: '4566' },
        'data-dir': { type: 'string', default: '.local' },
        'in-memory': { type: 'boolean', default: false },
        fresh: { type: 'boolean', default: false },
        'no-build': { type: 'boolean', default: false },
        'fault-put-records-rate': { type: 'string', default: '0' },
        'shard-limits': { type: 'boolean', default: false },
        'fault-dynamodb': { type: 'string' },
        'fault-dynamodb-mode': { type: 'string', default: 'throttle' },
        'fault-function': { type: 'string' },
        'fault-function-name': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
};

const main = async (): Promise<void> => {
  const args = process.argv.slice(2);
  // `start` is the only command, so it may be left out: `node local/cli.ts --port 3001`.
  const [command, ...rest] = args[0] === undefined || args[0].startsWith('-') ? ['start', ...args] : args;
  if (command !== 'start') throw new UsageError(`unknown command '${command}'`);
  const { values } = parseOptions(rest);
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > 65_535)
      throw new UsageError(`--${name} must be a port number, got '${value}'`);
    return n;
  };
  const apiPort = port('port', values.port);
  const endpointPort = port('endpoint-port', values['endpoint-port']);
  const jwtApiPort = port('jwt-port', values['jwt-port']);
  let jwtIssuerCa: string | undefined;
  if (values['jwt-issuer-ca'] !== undefined) {
    try {
      jwtIssuerCa = readFileSync(values['jwt-issuer-ca'], 'utf8');
    } catch (error) {
      throw new UsageError(`--jwt-issuer-ca cannot be read: ${(error as Error).message}`);
    }
    if (!jwtIssuerCa.includes('-----BEGIN CERTIFICATE-----'))
      throw new UsageError(`--jwt-issuer-ca must be a PEM certificate file, got ${values['jwt-issuer-ca']}`);
  }
  let faults: FaultSettings;
  try {
    faults = validateFaults({
      putRecordsFailureRate: numberFlag(
        'fault-put-records-rate',
        values['fault-put-records-rate'],
        { checks: [{ min: 0 }, { max: 1 }] },
        UsageError,
      ),
      shardWriteLimits: values['shard-limits'],
      dynamodbMode: values['fault-dynamodb-mode'] as FaultSettings['dynamodbMode'],
      ...(values['fault-dynamodb'] ? { dynamodbPattern: values['fault-dynamodb'] } : {}),
      ...(values['fault-function'] ? { functionPattern: values['fault-function'] } : {}),
      ...(values['fault-function-name'] ? { functionName: values['fault-function-name'] } : {}),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  const view = createLiveView();
  const runtime = await startRuntime({
    faults,
    log: (source, line) => view.print(source, line),
    templatePath: values.template,
    parameterOverrides: parseParameterOverrides(values['parameter-overrides']),
    apiPort,
    jwtApiPort,
    ...(jwtIssuerCa !== undefined ? { jwtIssuerCa } : {}),
    endpointPort,
    dataDir: values['in-memory'] ? undefined : values['data-dir'],
    fresh: values.fresh,
    skipBuild: values['no-build'],
  }).catch((error: NodeJS.ErrnoException & { port?: number }) => {
    if (error instanceof DataDirInUseError) {
      throw new Error(
        `the data folder ${values['data-dir']} is in use by another local runtime; stop it, or choose another with --data-dir (or --in-memory) (${error.message})`,
      );
    }
    if (error instanceof PortsUnavailableError) throw portsMessage(error);
    // A port taken between the check before the start and the server's own listen.
    if (error.code !== 'EADDRINUSE' || error.port === undefined) throw error;
    const server: RuntimeServer =
      error.port === apiPort ? 'api' : error.port === jwtApiPort ? 'jwtApi' : 'endpoint';
    throw portsMessage(new PortsUnavailableError([], [{ port: error.port, server }]));
  });

  const stream = Object.values(runtime.stack.resources).find((r) => r.type === 'AWS::Kinesis::Stream');
  const routes = Object.values(runtime.stack.functions).flatMap((fn) =>
    fn.events
      .filter((e) => e.type === 'HttpApi')
      .map((e) => `${e.properties.Method} ${e.properties.Path} → ${fn.name}`),
  );
  const streamName = stream?.refs.ref ?? '<stream>';
  console.log(`
Local pipeline running (template: ${values.template}, data: ${values['in-memory'] ? 'in memory' : values['data-dir']})

  HTTP API       ${runtime.apiEndpoint}
${routes.map((r) => `                 ${r}`).join('\n')}
${runtime.jwtApiEndpoint ? `  JWT API        ${runtime.jwtApiEndpoint}   (POST /events with Authorization: Bearer <token>)\n` : ''}  AWS endpoint   ${runtime.endpoint}   (any SDK, the AWS CLI or boto3 with --endpoint-url / AWS_ENDPOINT_URL)
  Stream         ${streamName}
  Functions      ${[...runtime.functions.keys()].join(', ')}

Send an event:
  curl -X POST ${runtime.apiEndpoint}/events -H 'content-type: application/cloudevents+json' \\
    -d '{"specversion":"1.0","id":"1","source":"urn:demo","type":"demo.created","data":{"hello":"world"}}'

Read the stream back with the AWS CLI:
  export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
  aws --endpoint-url ${runtime.endpoint} kinesis list-shards --stream-name ${streamName}
  aws --endpoint-url ${runtime.endpoint} kinesis get-records --shard-iterator "$(aws --endpoint-url ${runtime.endpoint} \\
    kinesis get-shard-iterator --stream-name ${streamName} --shard-id shardId-000000000000 \\
    --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)"

Live status: curl ${runtime.endpoint}/_local/status     Faults: curl ${runtime.endpoint}/_local/faults
Press Ctrl-C to stop.
`);
  view.start(() => runtime.status());

  // The stop waits for the function calls in progress (up to a function's timeout) and saves what it holds; a second
  // Ctrl-C quits at once, as a crash would: the checkpoints and queue messages saved so far hold.
  onStopSignals(
    (signal) => {
      view.stop();
      console.log(
        `\n${signal}: stopping, once the function calls in progress end (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again stops at once)…`,
      );
      void runtime.stop().then(() => {
        console.log('stopped cleanly');
        process.exit(0);
      });
    },
    (signal) => {
      console.log(
        `${signal} again: stopped at once; a restart reads again the records after the last checkpoint saved, and queue changes of the last second may be lost`,
      );
      process.exit(signalExitCode(signal));
    },
  );
};

main().catch((error: Error) => {
  if (error instanceof UsageError) {
    console.error(`npm start: ${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  console.error(`npm start failed: ${error.message}`);
  process.exit(1);
});
