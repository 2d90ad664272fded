import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import {
  GetFunctionCommand,
  InvokeCommand,
  type InvokeCommandOutput,
  LambdaClient,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION } from '#local/emulators/index.ts';
import { lambdaInvokeRoute } from '#local/functions/invoke-api.ts';
import {
  type InvokeResult,
  LocalFunction,
  MAX_OPEN_LINE_CHARS,
  type RunnerOptions,
} from '#local/functions/runner.ts';
import { type RunningGateway, startGateway } from '#local/gateway.ts';
import { startRuntime } from '#local/runtime.ts';
import { type PlannedFunction, planStack } from '#local/stack.ts';
import { loadTemplate, parseTemplate } from '#local/template/parse.ts';
import { callFailure } from '#test/helpers/runtime.ts';

/** A handler that does what its event asks, to drive the local runtime into each case. */
const PROBE = `
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
const environment = randomUUID();
const never = () => new Promise(() => undefined);
export const handler = async (event, context) => {
  for (const line of event.log ?? []) console.log(line);
  for (let i = 0; i < (event.pieces ?? 0); i++) process.stdout.write(event.piece);
  for (const bytes of event.bytes ?? []) process.stdout.write(new Uint8Array(bytes));
  if (event.wait) await new Promise((resolve) => setTimeout(resolve, event.wait));
  while (event.gate && !existsSync(event.gate)) await new Promise((resolve) => setTimeout(resolve, 5));
  switch (event.do) {
    case 'symbol': return Symbol('no JSON');
    case 'function': return () => 1;
    case 'bigint': return { count: 1n };
    case 'circular': { const self = {}; self.self = self; return self; }
    case 'undefined': return undefined;
    case 'exit': process.exit(event.code ?? 1);
    case 'timer-throw': setTimeout(() => { throw new RangeError('late boom'); }, 0); return never();
    case 'reject': Promise.reject(new Error('nobody waits for this')); return never();
    case 'fail': throw new TypeError('asked to fail');
    case 'big': return 'x'.repeat(event.size);
    case 'post': parentPort.postMessage(null); return { environment };
    case 'echo': return { event, environment, requestId: context.awsRequestId };
    case 'env': return { ...process.env };
    case 'context': return { logGroupName: context.logGroupName, functionName: context.functionName };
    case 'client-context': return { has: 'clientContext' in context, clientContext: context.clientContext ?? null };
    case 'stream': return { logStreamName: context.logStreamName, environment };
    case 'clock': return { hours: new Date(0).getHours(), zone: Intl.DateTimeFormat().resolvedOptions().timeZone };
    default: return { environment, requestId: context.awsRequestId };
  }
};
`;

let root: string;

const definition = (logicalId: string, over: Partial<PlannedFunction> = {}): PlannedFunction => ({
  logicalId,
  name: logicalId,
  arn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${logicalId}`,
  roleArn: `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/local-${logicalId}Role`,
  handler: 'index.handler',
  runtime: 'nodejs24.x',
  timeoutSeconds: 20,
  memoryMb: 128,
  environment: {},
  events: [],
  ...over,
});

const bundle = (logicalId: string, source: string) => {
  mkdirSync(join(root, logicalId), { recursive: true });
  writeFileSync(join(root, logicalId, 'index.mjs'), source);
};

const localFunction = (
  logicalId: string,
  options: Partial<RunnerOptions> = {},
  over: Partial<PlannedFunction> = {},
) =>
  new LocalFunction(definition(logicalId, over), {
    bundleRoot: root,
    baseEnvironment: {},
    log: () => undefined,
    ...options,
  });

/** Runs `act` with a function and closes the function after, whatever happens. */
const withFunction = async <T>(fn: LocalFunction, act: (fn: LocalFunction) => Promise<T>): Promise<T> => {
  try {
    return await act(fn);
  } finally {
    await fn.close();
  }
};

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lambda-invoke-'));
  bundle('Probe', PROBE);
  bundle('Reserved', PROBE);
  bundle('Unreserved', PROBE);
  bundle('Reprocessor', PROBE);
  bundle('InitExit', 'process.exit(3);\nexport const handler = async () => "never";\n');
  bundle('Flaky', 'export const handler = async () => { throw new Error("always fails"); };\n');
  bundle('InitHang', 'await new Promise(() => undefined);\nexport const handler = async () => "never";\n');
  bundle(
    'Callback',
    'export const handler = (event, context, callback) => { setTimeout(() => callback(null, "done"), 1); };\n',
  );
  bundle('ThrowsText', 'export const handler = async () => { throw "not an Error"; };\n');
  bundle('Nested', 'export const handlers = { main: async () => "nested" };\n');
  bundle('Default', 'export default { handlers: { main: async () => "from the default export" } };\n');
  bundle('Broken', 'export const handler = async () => {;\n');
  mkdirSync(join(root, 'Deep', 'src', 'app'), { recursive: true });
  writeFileSync(join(root, 'Deep', 'src', 'app', 'main.mjs'), 'export const go = async () => "deep";\n');
  bundle(
    'Logs',
    `import { Console } from 'node:console';
const own = new Console({ stdout: process.stdout, stderr: process.stderr });
console.log('at init');
export const handler = async () => {
  console.log('log %s', 'formatted');
  console.info({ an: 'object' });
  console.warn('warn');
  console.error('failed:', new RangeError('out of range'));
  console.debug('debug');
  console.trace('trace');
  own.log('{"level":"INFO","message":"written by a Console of its own"}');
  process.stdout.write('written to stdout\\n');
  return 'logged';
};
`,
  );
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('Local runtime: what a handler returns', () => {
  it.each([
    { case: 'a Symbol', ask: 'symbol' },
    { case: 'a function', ask: 'function' },
    { case: 'a BigInt', ask: 'bigint' },
    { case: 'a circular object', ask: 'circular' },
  ])(
    'fails the invocation with Runtime.JSONStringifyError when it returns $case, and runs on',
    async ({ ask }) => {
      // Prepare
      const fn = localFunction('Probe');
      // Act
      const [failed, next] = await withFunction(fn, async () => [
        await fn.invoke({ do: ask }),
        await fn.invoke({}),
      ]);
      // Assess
      expect(failed).toMatchObject({
        functionError: 'Unhandled',
        payload: {
          errorType: 'Runtime.JSONStringifyError',
          errorMessage: 'Unable to stringify response body',
        },
      });
      expect(next!.functionError).toBeUndefined();
    },
  );

  it("gives the function Lambda's reserved variables, on-demand initialisation included (Powertools' cold start)", async () => {
    // Prepare
    const fn = localFunction('Probe');
    // Act
    const result = await withFunction(fn, () => fn.invoke({ do: 'env' }));
    // Assess
    expect(result.payload).toMatchObject({
      _HANDLER: 'index.handler',
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_LAMBDA_FUNCTION_NAME: 'Probe',
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/Probe',
      AWS_LAMBDA_LOG_STREAM_NAME: expect.stringMatching(/^\d{4}\/\d{2}\/\d{2}\/\[\$LATEST\][0-9a-f]{32}$/),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      LAMBDA_TASK_ROOT: join(root, 'Probe'),
      LAMBDA_RUNTIME_DIR: expect.stringMatching(/local[/\\]functions$/),
      TZ: ':UTC',
    });
  });

  it("runs the function's clock in UTC, as Lambda does, whatever the zone of the process that runs it", async () => {
    // Prepare: a host process in Tokyo (UTC+9, no daylight saving), which runs one invocation of the probe.
    const host = join(root, 'tokyo-host.mjs');
    writeFileSync(
      host,
      `import { LocalFunction } from ${JSON.stringify(pathToFileURL(resolve('local/functions/runner.ts')).href)};
const [definition, bundleRoot] = process.argv.slice(2);
const fn = new LocalFunction(JSON.parse(definition), { bundleRoot, baseEnvironment: {}, log: () => undefined });
const { payload } = await fn.invoke({ do: 'clock' });
await fn.close();
console.log(JSON.stringify(payload));
`,
    );
    // Act
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [host, JSON.stringify(definition('Probe')), root],
      { env: { ...process.env, TZ: 'Asia/Tokyo' }, timeout: 30_000 },
    );
    // Assess: midnight of 1970-01-01 UTC is 0 h, not Tokyo's 9 h, for Date and for Intl.
    expect(JSON.parse(stdout)).toEqual({ hours: 0, zone: 'UTC' });
  });

  it('names each environment its own log stream, in its context and its AWS_LAMBDA_LOG_STREAM_NAME', async () => {
    // Prepare: two invocations at once need two environments.
    const fn = localFunction('Probe');
    // Act
    const { first, second, env } = await withFunction(fn, async () => {
      const [a, b] = await Promise.all([
        fn.invoke({ do: 'stream', wait: 200 }),
        fn.invoke({ do: 'stream', wait: 200 }),
      ]);
      return {
        first: a.payload as { logStreamName: string; environment: string },
        second: b.payload as { logStreamName: string; environment: string },
        env: (await fn.invoke({ do: 'env' })).payload as Record<string, string>,
      };
    });
    // Assess
    expect(first.environment).not.toBe(second.environment);
    expect(first.logStreamName).not.toBe(second.logStreamName);
    expect([first.logStreamName, second.logStreamName]).toContain(env.AWS_LAMBDA_LOG_STREAM_NAME);
  });

  it.each([
    { tracing: 'Active' as const, sampled: '1' },
    { tracing: 'PassThrough' as const, sampled: '0' },
  ])(
    'gives each invocation an X-Ray trace header with its Parent, Sampled=$sampled when Tracing is $tracing',
    async ({ tracing, sampled }) => {
      // Prepare
      const fn = localFunction('Probe', {}, { tracing });
      // Act
      const [first, second] = await withFunction(fn, async () => [
        (await fn.invoke({ do: 'env' })).payload as Record<string, string>,
        (await fn.invoke({ do: 'env' })).payload as Record<string, string>,
      ]);
      // Assess
      const header = /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=([01])$/;
      expect(first!._X_AMZN_TRACE_ID).toMatch(header);
      expect(header.exec(first!._X_AMZN_TRACE_ID!)![1]).toBe(sampled);
      expect(second!._X_AMZN_TRACE_ID).not.toBe(first!._X_AMZN_TRACE_ID);
    },
  );

  it("names the function's LoggingConfig log group, when it has one, where Lambda does", async () => {
    // Prepare
    const fn = localFunction('Probe', {}, { logGroupName: '/aws/lambda/local/probe' });
    // Act
    const [env, context] = await withFunction(fn, async () => [
      (await fn.invoke({ do: 'env' })).payload,
      (await fn.invoke({ do: 'context' })).payload,
    ]);
    // Assess
    expect(env).toMatchObject({ AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/local/probe' });
    expect(context).toMatchObject({ logGroupName: '/aws/lambda/local/probe' });
  });

  it('gives a function with a FunctionName that name in its context, its variables and its default log group', async () => {
    // Prepare
    const fn = localFunction('Reprocessor', {}, { functionName: 'local-reprocessor' });
    // Act
    const [env, context] = await withFunction(fn, async () => [
      (await fn.invoke({ do: 'env' })).payload,
      (await fn.invoke({ do: 'context' })).payload,
    ]);
    // Assess
    expect(env).toMatchObject({
      AWS_LAMBDA_FUNCTION_NAME: 'local-reprocessor',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/local-reprocessor',
    });
    expect(context).toEqual({
      logGroupName: '/aws/lambda/local-reprocessor',
      functionName: 'local-reprocessor',
    });
  });

  it('answers null for undefined', async () => {
    // Prepare
    const fn = localFunction('Probe');
    // Act
    const result = await withFunction(fn, () => fn.invoke({ do: 'undefined' }));
    // Assess
    expect(result.functionError).toBeUndefined();
    expect(result.payload).toBeNull();
  });

  it('fails a response over 6 MB + 100 bytes with Function.ResponseSizeTooLarge, and returns one at the limit', async () => {
    // Prepare: the JSON of a string is its length plus two quotes.
    const fn = localFunction('Probe');
    // Act
    const [over, atLimit] = await withFunction(fn, async () => [
      await fn.invoke({ do: 'big', size: 6 * 1024 * 1024 + 100 - 1 }),
      await fn.invoke({ do: 'big', size: 6 * 1024 * 1024 + 100 - 2 }),
    ]);
    // Assess
    expect(over).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
      },
    });
    expect(atLimit!.functionError).toBeUndefined();
    expect((atLimit!.payload as string).length).toBe(6 * 1024 * 1024 + 98);
  });
});

describe("Local runtime: the handler, as Lambda's Node.js runtime takes it", () => {
  it('refuses a callback-based handler at init on nodejs24.x with Runtime.CallbackHandlerDeprecated', async () => {
    // Prepare
    const fn = localFunction('Callback');
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Runtime.CallbackHandlerDeprecated',
        errorMessage: expect.stringContaining(
          'AWS Lambda has removed support for callback-based function handlers starting with Node.js 24',
        ),
      },
    });
  });

  it('answers with what a callback-based handler passes its callback on nodejs22.x', async () => {
    // Prepare
    const fn = localFunction('Callback', {}, { runtime: 'nodejs22.x' });
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result.functionError).toBeUndefined();
    expect(result.payload).toBe('done');
  });

  it('fails with Runtime.HandlerNotFound, naming the Handler, when the module does not export it', async () => {
    // Prepare
    const fn = localFunction('Probe', {}, { handler: 'index.missing' });
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Runtime.HandlerNotFound',
        errorMessage: 'index.missing is undefined or not exported',
      },
    });
  });

  it.each([
    { case: 'a property of an export', id: 'Nested', handler: 'index.handlers.main', answer: 'nested' },
    {
      case: 'a property of the default export',
      id: 'Default',
      handler: 'index.handlers.main',
      answer: 'from the default export',
    },
    { case: 'a module in a folder', id: 'Deep', handler: 'src/app/main.go', answer: 'deep' },
  ])(
    'takes the module up to the first dot and the rest as a path through it: $case',
    async ({ id, handler, answer }) => {
      // Prepare
      const fn = localFunction(id, {}, { handler });
      // Act
      const result = await withFunction(fn, () => fn.invoke({}));
      // Assess
      expect(result.functionError).toBeUndefined();
      expect(result.payload).toBe(answer);
    },
  );

  it.each([
    {
      case: 'a Handler without a dot',
      id: 'Probe',
      handler: 'index',
      error: { errorType: 'Runtime.MalformedHandlerName', errorMessage: 'Bad handler' },
    },
    {
      case: 'a Handler that climbs out of the code',
      id: 'Probe',
      handler: '../index.handler',
      error: {
        errorType: 'Runtime.MalformedHandlerName',
        errorMessage:
          "'../index.handler' is not a valid handler name. Use absolute paths when specifying root directories in handler names.",
      },
    },
    {
      case: 'a module that is not there',
      id: 'Probe',
      handler: 'app.handler',
      error: { errorType: 'Runtime.ImportModuleError', errorMessage: "Error: Cannot find module 'app'" },
    },
    {
      case: 'a path through the exports that ends nowhere',
      id: 'Nested',
      handler: 'index.handlers.missing',
      error: {
        errorType: 'Runtime.HandlerNotFound',
        errorMessage: 'index.handlers.missing is undefined or not exported',
      },
    },
    {
      case: 'a module that does not parse',
      id: 'Broken',
      handler: 'index.handler',
      error: {
        errorType: 'Runtime.UserCodeSyntaxError',
        errorMessage: expect.stringMatching(/^SyntaxError: /),
      },
    },
  ])("fails each invocation's init with Lambda's error for $case", async ({ id, handler, error }) => {
    // Prepare
    const fn = localFunction(id, {}, { handler });
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result).toMatchObject({ functionError: 'Unhandled', payload: error });
  });

  it('reports a thrown value that is not an Error by its type and text, with no trace, and logs it', async () => {
    // Prepare
    const fn = localFunction('ThrowsText');
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result).toMatchObject({
      functionError: 'Unhandled',
      payload: { errorType: 'string', errorMessage: 'not an Error', trace: [] },
    });
    expect(result.log).toContain(
      'Invoke Error \t{"errorType":"string","errorMessage":"not an Error","trace":[]}\nEND RequestId: ',
    );
  });
});

describe('Local runtime: what a function logs', () => {
  /** The lines of an invocation's log between its START and its END. */
  const functionLines = (result: InvokeResult): string[] => {
    const lines = result.log!.trimEnd().split('\n');
    return lines.slice(
      lines.findIndex((line) => line.startsWith('START ')) + 1,
      lines.findIndex((line) => line.startsWith('END ')),
    );
  };

  it("prefixes what console writes with Lambda's time, request id and level in Text format, and leaves stdout as it is", async () => {
    // Prepare
    const logged: string[] = [];
    const fn = localFunction('Logs', { log: (_name, line) => logged.push(line) });
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    const id = result.requestId;
    const time = '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z';
    const lines = functionLines(result);
    expect(lines.slice(0, 4)).toEqual([
      expect.stringMatching(new RegExp(`^${time}\\t${id}\\tINFO\\tlog formatted$`)),
      expect.stringMatching(new RegExp(`^${time}\\t${id}\\tINFO\\t\\{ an: 'object' \\}$`)),
      expect.stringMatching(new RegExp(`^${time}\\t${id}\\tWARN\\twarn$`)),
      expect.stringMatching(new RegExp(`^${time}\\t${id}\\tERROR\\tfailed: RangeError: out of range$`)),
    ]);
    expect(lines.filter((line) => /\tDEBUG\tdebug$/.test(line))).toHaveLength(1);
    expect(lines.filter((line) => /\tTRACE\ttrace$/.test(line))).toHaveLength(1);
    expect(lines.slice(-2)).toEqual([
      '{"level":"INFO","message":"written by a Console of its own"}',
      'written to stdout',
    ]);
    // Before any invocation, the request id is '-'.
    expect(logged[0]).toMatch(new RegExp(`^${time}\\t-\\tINFO\\tat init$`));
  });

  it('writes what console writes as JSON objects in JSON format, leaving out levels under ApplicationLogLevel', async () => {
    // Prepare
    const fn = localFunction('Logs', {}, { jsonLogs: { applicationLogLevel: 'INFO' } });
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    const id = result.requestId;
    const lines = functionLines(result);
    const records = lines.slice(0, 4).map((line) => JSON.parse(line) as Record<string, unknown>);
    const timestamp = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(records).toEqual([
      { timestamp, level: 'INFO', requestId: id, message: 'log formatted' },
      { timestamp, level: 'INFO', requestId: id, message: { an: 'object' } },
      { timestamp, level: 'WARN', requestId: id, message: 'warn' },
      {
        timestamp,
        level: 'ERROR',
        requestId: id,
        message: expect.stringMatching(/^failed: RangeError: out of range/),
        errorType: 'RangeError',
        errorMessage: 'out of range',
        stackTrace: expect.arrayContaining(['RangeError: out of range']),
      },
    ]);
    // DEBUG and TRACE are under INFO; Powertools-style writes to stdout are left as they are.
    expect(lines.slice(4)).toEqual([
      '{"level":"INFO","message":"written by a Console of its own"}',
      'written to stdout',
    ]);
  });

  it('logs a line that never ends in pieces of 256 K characters, and the rest when the invocation ends', async () => {
    // Prepare: 300 KB written 1 KB at a time, with no end of line.
    const lines: string[] = [];
    const fn = localFunction('Probe', { log: (_name, line) => lines.push(line) });
    // Act
    const result = await withFunction(fn, () => fn.invoke({ pieces: 300, piece: 'x'.repeat(1024) }));
    // Assess
    expect(result.functionError).toBeUndefined();
    expect(lines.filter((line) => /^x+$/.test(line)).map((line) => line.length)).toEqual([
      MAX_OPEN_LINE_CHARS,
      300 * 1024 - MAX_OPEN_LINE_CHARS,
    ]);
  });

  it('keeps a character whose bytes come in two writes whole', async () => {
    // Prepare: é is 0xC3 0xA9 in UTF-8.
    const lines: string[] = [];
    const fn = localFunction('Probe', { log: (_name, line) => lines.push(line) });
    // Act
    const result = await withFunction(fn, () =>
      fn.invoke({
        bytes: [
          [0x63, 0x61, 0x66, 0xc3],
          [0xa9, 0x0a],
        ],
      }),
    );
    // Assess
    expect(lines).toContain('café');
    expect(result.log).toContain('\ncafé\n');
  });
});

describe('Local runtime: a function that posts to its own port', () => {
  it('runs on when the function posts null', async () => {
    // Prepare: what the runtime throws while it reads its port would end the process.
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    const fn = localFunction('Probe');
    // Act
    const [posted, next] = await withFunction(fn, async () => [
      await fn.invoke({ do: 'post' }),
      await fn.invoke({}),
    ]).finally(() => process.off('uncaughtException', onUncaught));
    // Assess
    expect(uncaught).toEqual([]);
    expect(posted!.functionError).toBeUndefined();
    expect(next!.functionError).toBeUndefined();
  });
});

describe('Local runtime: a runtime that exits', () => {
  it('answers process.exit in the handler at once with Runtime.ExitError, and discards the environment', async () => {
    // Prepare
    const fn = localFunction('Probe');
    // Act
    const [before, exited, after] = await withFunction(fn, async () => [
      await fn.invoke({}),
      await fn.invoke({ do: 'exit', code: 1 }),
      await fn.invoke({}),
    ]);
    // Assess
    expect(exited).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${exited!.requestId} Error: Runtime exited with error: exit status 1`,
      },
    });
    expect(after!.functionError).toBeUndefined();
    expect((after!.payload as { environment: string }).environment).not.toBe(
      (before!.payload as { environment: string }).environment,
    );
  });

  it('fails the invocation with the error thrown from a timer, and discards the environment', async () => {
    // Prepare
    const fn = localFunction('Probe');
    // Act
    const [before, thrown, after] = await withFunction(fn, async () => [
      await fn.invoke({}),
      await fn.invoke({ do: 'timer-throw' }),
      await fn.invoke({}),
    ]);
    // Assess
    expect(thrown).toMatchObject({
      functionError: 'Unhandled',
      payload: { errorType: 'RangeError', errorMessage: 'late boom' },
    });
    expect((after!.payload as { environment: string }).environment).not.toBe(
      (before!.payload as { environment: string }).environment,
    );
  });

  it('fails the invocation on an unhandled rejection with Runtime.UnhandledPromiseRejection', async () => {
    // Prepare
    const fn = localFunction('Probe');
    // Act
    const result = await withFunction(fn, () => fn.invoke({ do: 'reject' }));
    // Assess
    expect(result).toMatchObject({
      functionError: 'Unhandled',
      payload: {
        errorType: 'Runtime.UnhandledPromiseRejection',
        errorMessage: 'Error: nobody waits for this',
      },
    });
  });

  it('answers a runtime that exits during its init with Runtime.ExitError', async () => {
    // Prepare
    const fn = localFunction('InitExit');
    // Act
    const result = await withFunction(fn, () => fn.invoke({}));
    // Assess
    expect(result).toMatchObject({
      functionError: 'Unhandled',
      payload: { errorType: 'Runtime.ExitError', errorMessage: 'Runtime exited with error: exit status 3' },
    });
  });

  it('fails an invocation whose init never ends with Sandbox.Timedout, and frees its place', async () => {
    // Prepare: one environment at most, whose init gets 50 ms and then the function's 1 s.
    const fn = localFunction('InitHang', { maxConcurrency: 1, initTimeoutMs: 50 }, { timeoutSeconds: 1 });
    // Act
    const [first, second] = await withFunction(fn, () => Promise.all([fn.invoke({}), fn.invoke({})]));
    // Assess
    for (const result of [first, second]) {
      expect(result).toMatchObject({
        functionError: 'Unhandled',
        payload: {
          errorType: 'Sandbox.Timedout',
          errorMessage: `RequestId: ${result.requestId} Error: Task timed out after 1.00 seconds`,
        },
      });
      expect(result.log).toMatch(/Task timed out after 1\.00 seconds\nEND RequestId: /);
    }
  });

  it('gives the place of an environment that died to an invocation waiting for one', async () => {
    // Prepare: one environment at most, so the second invocation waits for the first one's.
    const fn = localFunction('Probe', { maxConcurrency: 1 });
    // Act
    const [exited, waited] = await withFunction(fn, () =>
      Promise.all([fn.invoke({ wait: 50, do: 'exit', code: 2 }), fn.invoke({ do: 'echo' })]),
    );
    // Assess
    expect((exited.payload as { errorType: string }).errorType).toBe('Runtime.ExitError');
    expect(waited.functionError).toBeUndefined();
  });

  it('gives the place of a timed-out environment, once it is gone, to an invocation waiting for one', async () => {
    // Prepare
    const fn = localFunction('Probe', { maxConcurrency: 1 }, { timeoutSeconds: 1 });
    // Act
    const [timedOut, waited] = await withFunction(fn, () =>
      Promise.all([fn.invoke({ wait: 10_000 }), fn.invoke({ do: 'echo' })]),
    );
    // Assess
    expect((timedOut.payload as { errorType: string }).errorType).toBe('Sandbox.Timedout');
    expect(waited.functionError).toBeUndefined();
  });
});

describe('Local runtime: reserved concurrency', () => {
  it("runs no more invocations at once than the function's ReservedConcurrentExecutions", async () => {
    // Prepare: room for 10 environments, but 1 reserved
    const fn = localFunction('Reserved', {}, { reservedConcurrency: 1 });
    // Act
    const results = await withFunction(fn, () =>
      Promise.all([fn.invoke({ wait: 20 }), fn.invoke({ wait: 20 }), fn.invoke({ wait: 20 })]),
    );
    // Assess: one environment ran them all, one after another
    const environments = new Set(results.map((r) => (r.payload as { environment: string }).environment));
    expect(environments.size).toBe(1);
  });
});

describe('Local runtime: asynchronous invocations', () => {
  it('retries a failed asynchronous invocation twice, logging each failed attempt under one request id', async () => {
    // Prepare
    const lines: string[] = [];
    const results: InvokeResult[] = [];
    let allDone: () => void;
    const done = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    const fn = localFunction('Flaky', {
      asyncRetryDelaysMs: [10, 20],
      log: (_name, line) => lines.push(line),
      settled: (_name, _event, result) => {
        results.push(result);
        if (results.length === 3) allDone();
      },
    });
    // Act
    const requestId = await withFunction(fn, async () => {
      const id = fn.invokeAsync({ n: 1 });
      await done;
      return id;
    });
    // Assess
    expect(results.map((r) => r.requestId)).toEqual([requestId, requestId, requestId]);
    const notes = lines.filter((line) => line.startsWith('asynchronous invocation'));
    expect(notes).toEqual([
      `asynchronous invocation ${requestId} failed (attempt 1 of 3): Error: always fails; retrying in 10 ms`,
      `asynchronous invocation ${requestId} failed (attempt 2 of 3): Error: always fails; retrying in 20 ms`,
      `asynchronous invocation ${requestId} failed (attempt 3 of 3): Error: always fails; giving up`,
    ]);
  });

  it.each([
    { retries: 0, notes: ['attempt 1 of 1): Error: always fails; giving up'] },
    {
      retries: 1,
      notes: [
        'attempt 1 of 2): Error: always fails; retrying in 10 ms',
        'attempt 2 of 2): Error: always fails; giving up',
      ],
    },
  ])(
    'retries a failed asynchronous invocation $retries times when EventInvokeConfig says so',
    async ({ retries, notes }) => {
      // Prepare
      const lines: string[] = [];
      const results: InvokeResult[] = [];
      let gaveUp: () => void;
      const done = new Promise<void>((resolve) => {
        gaveUp = resolve;
      });
      const fn = localFunction(
        'Flaky',
        {
          asyncRetryDelaysMs: [10, 20],
          log: (_name, line) => {
            lines.push(line);
            if (line.endsWith('giving up')) gaveUp();
          },
          settled: (_name, _event, result) => results.push(result),
        },
        { asyncRetryAttempts: retries },
      );
      // Act
      const requestId = await withFunction(fn, async () => {
        const id = fn.invokeAsync({ n: 1 });
        await done;
        return id;
      });
      // Assess
      expect(results).toHaveLength(retries + 1);
      expect(lines.filter((line) => line.startsWith('asynchronous invocation'))).toEqual(
        notes.map((note) => `asynchronous invocation ${requestId} failed (${note}`),
      );
    },
  );

  it('stops retrying when the function is closed', async () => {
    // Prepare: a retry a minute away, which close must cut short.
    const results: InvokeResult[] = [];
    const notes: string[] = [];
    let noted: (line: string) => void = () => undefined;
    const next = () =>
      new Promise<string>((resolve) => {
        noted = resolve;
      });
    const fn = localFunction('Flaky', {
      asyncRetryDelaysMs: [60_000, 60_000],
      log: (_name, line) => {
        if (!line.startsWith('asynchronous invocation')) return;
        notes.push(line);
        noted(line);
      },
      settled: (_name, _event, result) => results.push(result),
    });
    // Act
    const failed = next();
    const requestId = fn.invokeAsync({});
    await failed;
    const dropped = next();
    await fn.close();
    await dropped;
    // Assess
    expect(results).toHaveLength(1);
    expect(notes).toEqual([
      `asynchronous invocation ${requestId} failed (attempt 1 of 3): Error: always fails; retrying in 60000 ms`,
      `asynchronous invocation ${requestId} not retried: Flaky is shut down`,
    ]);
  });
});

describe('Lambda Invoke API on the local endpoint', () => {
  let gateway: RunningGateway;
  let lambda: LambdaClient;
  const functions = new Map<string, LocalFunction>();
  const eventLines: string[] = [];
  /** Told when an invocation of Reserved starts. */
  let reservedStarted: (() => void) | undefined;

  const invoke = (
    input: Omit<ConstructorParameters<typeof InvokeCommand>[0], 'Payload'> & { event?: unknown },
  ) => {
    const { event, ...rest } = input;
    return lambda.send(
      new InvokeCommand({ ...rest, Payload: Buffer.from(JSON.stringify(event ?? {}), 'utf8') }),
    );
  };
  const payloadOf = (output: InvokeCommandOutput) =>
    JSON.parse(Buffer.from(output.Payload!).toString('utf8'));

  /** A raw request: `declared` is the Content-Length sent (undefined: chunked), `body` what is written of it. */
  const rawInvoke = (headers: Record<string, string>, body: Buffer[], declared?: number) =>
    new Promise<{ status: number; type: string; message: string }>((resolve, reject) => {
      const req = request(
        `${gateway.endpoint}/2015-03-31/functions/Probe/invocations`,
        {
          method: 'POST',
          headers: { ...headers, ...(declared !== undefined ? { 'content-length': String(declared) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { message: string };
            resolve({
              status: res.statusCode!,
              type: String(res.headers['x-amzn-errortype']),
              message: answer.message,
            });
            req.destroy();
          });
        },
      );
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
      });
      // The rest of the body is never sent: the answer must not wait for it.
      for (const chunk of body) req.write(chunk);
    });

  beforeAll(async () => {
    functions.set('Probe', localFunction('Probe'));
    functions.set(
      'Reserved',
      localFunction('Reserved', { observe: () => reservedStarted?.() }, { reservedConcurrency: 1 }),
    );
    functions.set('Unreserved', localFunction('Unreserved', {}, { reservedConcurrency: 0 }));
    functions.set(
      'Reprocessor',
      localFunction(
        'Reprocessor',
        { log: (_name, line) => eventLines.push(line) },
        { functionName: 'local-reprocessor' },
      ),
    );
    gateway = await startGateway({
      port: 0,
      services: {},
      routes: [
        lambdaInvokeRoute({ functions: () => functions, region: LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }),
      ],
    });
    lambda = new LambdaClient({
      endpoint: gateway.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    lambda?.destroy();
    await Promise.all([...functions.values()].map((fn) => fn.close()));
    await gateway?.close();
  });

  it.each([
    { case: 'its name', name: 'Probe' },
    { case: 'its name with :$LATEST', name: 'Probe:$LATEST' },
    { case: 'its name with Qualifier $LATEST', name: 'Probe', qualifier: '$LATEST' },
    { case: 'its partial ARN', name: `${LOCAL_ACCOUNT_ID}:function:Probe` },
    { case: 'its ARN', name: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Probe` },
    {
      case: 'its ARN with :$LATEST',
      name: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Probe:$LATEST`,
    },
  ])('invokes a function by $case', async ({ name, qualifier }) => {
    // Act
    const output = await invoke({
      FunctionName: name,
      ...(qualifier ? { Qualifier: qualifier } : {}),
      event: { do: 'echo' },
    });
    // Assess
    expect(output.StatusCode).toBe(200);
    expect(output.ExecutedVersion).toBe('$LATEST');
    expect(output.FunctionError).toBeUndefined();
    expect(payloadOf(output).event).toEqual({ do: 'echo' });
  });

  it.each([
    {
      case: 'another qualifier',
      name: 'Probe:live',
      error: `Function not found: arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Probe:live`,
    },
    {
      case: 'a Qualifier of a version',
      name: 'Probe',
      qualifier: '1',
      error: `Function not found: arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Probe:1`,
    },
    {
      case: 'an ARN in another region',
      name: `arn:aws:lambda:eu-west-1:${LOCAL_ACCOUNT_ID}:function:Probe`,
      error: `Functions from 'eu-west-1' are not reachable in this region ('${LOCAL_REGION}')`,
    },
    {
      case: 'an ARN in another account',
      name: `arn:aws:lambda:${LOCAL_REGION}:123456789012:function:Probe`,
      error: `Function not found: arn:aws:lambda:${LOCAL_REGION}:123456789012:function:Probe`,
    },
    {
      case: 'a partial ARN in another account',
      name: '123456789012:function:Probe',
      error: `Function not found: arn:aws:lambda:${LOCAL_REGION}:123456789012:function:Probe`,
    },
    {
      case: 'an unknown function',
      name: 'Missing',
      error: `Function not found: arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:Missing`,
    },
  ])('answers 404 ResourceNotFoundException for $case', async ({ name, qualifier, error }) => {
    // Act
    const answer = await callFailure(
      invoke({ FunctionName: name, ...(qualifier ? { Qualifier: qualifier } : {}) }),
    );
    // Assess
    expect(answer).toEqual({ name: 'ResourceNotFoundException', message: error, status: 404 });
  });

  it('answers 400 InvalidParameterValueException when the name and Qualifier disagree', async () => {
    // Act
    const answer = await callFailure(invoke({ FunctionName: 'Probe:$LATEST', Qualifier: 'live' }));
    // Assess
    expect(answer).toEqual({
      name: 'InvalidParameterValueException',
      message: 'The derived qualifier from the function name does not match the specified qualifier.',
      status: 400,
    });
  });

  it("takes a function's FunctionName as its name, and its logical id still", async () => {
    // Act
    const byName = await invoke({ FunctionName: 'local-reprocessor', event: { do: 'echo' } });
    const byArn = await invoke({
      FunctionName: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:local-reprocessor`,
      event: { do: 'echo' },
    });
    const byLogicalId = await invoke({ FunctionName: 'Reprocessor', event: { do: 'echo' } });
    // Assess
    expect([byName, byArn, byLogicalId].map((o) => o.FunctionError)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(payloadOf(byName).event).toEqual({ do: 'echo' });
    expect(payloadOf(byLogicalId).event).toEqual({ do: 'echo' });
  });

  it.each([
    {
      case: 'an invocation type',
      input: { InvocationType: 'Later' },
      message:
        "1 validation error detected: Value 'Later' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]",
    },
    {
      case: 'a log type',
      input: { LogType: 'Head' },
      message:
        "1 validation error detected: Value 'Head' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]",
    },
  ])('answers 400 ValidationException for $case outside the API', async ({ input, message }) => {
    // Act
    const answer = await callFailure(invoke({ FunctionName: 'Probe', ...(input as object) }));
    // Assess
    expect(answer).toEqual({ name: 'ValidationException', message, status: 400 });
  });

  it('answers another Lambda operation with what is emulated, and where the event source mappings are shown', async () => {
    // Act
    const answer = await callFailure(lambda.send(new GetFunctionCommand({ FunctionName: 'Probe' })));
    // Assess
    expect(answer).toEqual({
      name: 'UnknownOperationException',
      message:
        'The local runtime emulates these Lambda operations only: Invoke (POST /2015-03-31/functions/{FunctionName}/invocations), ' +
        'ListEventSourceMappings (GET /2015-03-31/event-source-mappings/) and GetEventSourceMapping ' +
        '(GET /2015-03-31/event-source-mappings/{UUID}), not GET /2015-03-31/functions/Probe; ' +
        'the event source mappings are also in GET /_local/status',
      status: 400,
    });
  });

  it('answers 400 InvalidRequestContentException for a payload that is not JSON', async () => {
    // Act
    const answer = await callFailure(
      lambda.send(new InvokeCommand({ FunctionName: 'Probe', Payload: Buffer.from('{not json', 'utf8') })),
    );
    // Assess
    expect(answer).toMatchObject({ name: 'InvalidRequestContentException', status: 400 });
  });

  it("gives the function the ClientContext of a synchronous invocation, decoded, in its context's clientContext", async () => {
    // Prepare
    const clientContext = { custom: { caller: 'test' }, env: { locale: 'en' } };
    // Act
    const given = await invoke({
      FunctionName: 'Probe',
      ClientContext: Buffer.from(JSON.stringify(clientContext), 'utf8').toString('base64'),
      event: { do: 'client-context' },
    });
    const none = await invoke({ FunctionName: 'Probe', event: { do: 'client-context' } });
    // Assess
    expect(payloadOf(given)).toEqual({ has: true, clientContext });
    expect(payloadOf(none)).toEqual({ has: true, clientContext: null });
  });

  it.each([
    { case: 'not base64 JSON', value: 'not-base64-json' },
    { case: 'base64 of a JSON value that is not an object', value: Buffer.from('[1]').toString('base64') },
  ])('refuses a ClientContext that is $case with 400 InvalidRequestContentException', async ({ value }) => {
    // Act
    const answer = await callFailure(invoke({ FunctionName: 'Probe', ClientContext: value }));
    // Assess
    expect(answer).toMatchObject({
      name: 'InvalidRequestContentException',
      message: 'Client context must be a valid Base64-encoded JSON object.',
      status: 400,
    });
  });

  it('throttles every synchronous invocation of a function whose ReservedConcurrentExecutions is 0 with 429', async () => {
    // Act
    const answer = await callFailure(invoke({ FunctionName: 'Unreserved' }));
    // Assess
    expect(answer).toEqual({ name: 'TooManyRequestsException', message: 'Rate Exceeded.', status: 429 });
  });

  it('throttles a synchronous invocation past ReservedConcurrentExecutions with 429, naming the reason', async () => {
    // Prepare: the one invocation allowed runs until the gate opens
    const gate = join(root, `gate-${Date.now()}`);
    const started = new Promise<void>((resolve) => {
      reservedStarted = resolve;
    });
    const first = invoke({ FunctionName: 'Reserved', event: { gate } });
    await started;
    // Act
    const throttled = await lambda
      .send(new InvokeCommand({ FunctionName: 'Reserved', Payload: Buffer.from('{}') }))
      .then(
        () => undefined,
        (error: { name: string; Reason?: string; $metadata: { httpStatusCode?: number } }) => error,
      );
    writeFileSync(gate, '');
    const done = await first;
    const after = await invoke({ FunctionName: 'Reserved' });
    // Assess
    expect(throttled).toMatchObject({
      name: 'TooManyRequestsException',
      Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      $metadata: { httpStatusCode: 429 },
    });
    expect(done.FunctionError).toBeUndefined();
    expect(after.FunctionError).toBeUndefined();
  });

  it("returns LogType Tail as the base64 of the invocation's log: START, the function's lines, END, REPORT", async () => {
    // Act
    const output = await invoke({
      FunctionName: 'Probe',
      LogType: 'Tail',
      event: { log: ['first line', 'second line'] },
    });
    // Assess
    const id = output.$metadata.requestId!;
    const lines = Buffer.from(output.LogResult!, 'base64').toString('utf8').trimEnd().split('\n');
    expect(lines.slice(0, 4)).toEqual([
      `START RequestId: ${id} Version: $LATEST`,
      expect.stringMatching(new RegExp(`^\\S+Z\\t${id}\\tINFO\\tfirst line$`)),
      expect.stringMatching(new RegExp(`^\\S+Z\\t${id}\\tINFO\\tsecond line$`)),
      `END RequestId: ${id}`,
    ]);
    expect(lines[4]).toMatch(
      new RegExp(
        `^REPORT RequestId: ${id}\\tDuration: [\\d.]+ ms\\tBilled Duration: \\d+ ms\\tMemory Size: 128 MB\\tMax Memory Used: \\d+ MB`,
      ),
    );
    expect(lines).toHaveLength(5);
  });

  it('keeps the last 4 KB of a long log, and no log without Tail', async () => {
    // Prepare
    const event = { log: Array.from({ length: 100 }, (_, i) => `line ${i} ${'.'.repeat(90)}`) };
    // Act
    const tail = await invoke({ FunctionName: 'Probe', LogType: 'Tail', event });
    const none = await invoke({ FunctionName: 'Probe', event });
    // Assess
    const log = Buffer.from(tail.LogResult!, 'base64');
    expect(log.byteLength).toBe(4096);
    expect(log.toString('utf8')).toContain('line 99 ');
    expect(log.toString('utf8')).not.toContain('line 0 ');
    expect(log.toString('utf8')).toMatch(/\nREPORT RequestId: [^\n]+\n$/);
    expect(none.LogResult).toBeUndefined();
  });

  it('answers a response over 6 MB as a function error', async () => {
    // Act
    const output = await invoke({ FunctionName: 'Probe', event: { do: 'big', size: 6 * 1024 * 1024 + 100 } });
    // Assess
    expect(output.StatusCode).toBe(200);
    expect(output.FunctionError).toBe('Unhandled');
    expect(payloadOf(output)).toEqual({
      errorType: 'Function.ResponseSizeTooLarge',
      errorMessage: 'Response payload size exceeded maximum allowed payload size (6291556 bytes).',
    });
  });

  it('refuses a synchronous payload over 6 MB with 413 before reading it', async () => {
    // Act: a declared length one byte over the limit, of which only 64 KB is ever sent.
    const answer = await rawInvoke({}, [Buffer.alloc(64 * 1024, 32)], 6 * 1024 * 1024 + 1);
    // Assess
    expect(answer).toEqual({
      status: 413,
      type: 'RequestEntityTooLargeException',
      message: 'Request must be smaller than 6291456 bytes for the InvokeFunction operation',
    });
  });

  it('refuses an Event payload over 1 MB with 413 before reading it', async () => {
    // Act
    const answer = await rawInvoke(
      { 'x-amz-invocation-type': 'Event' },
      [Buffer.alloc(1024, 32)],
      1024 * 1024 + 1,
    );
    // Assess
    expect(answer).toEqual({
      status: 413,
      type: 'RequestEntityTooLargeException',
      message: '1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)',
    });
  });

  it('stops reading a chunked payload once it passes the limit', async () => {
    // Act: no Content-Length; 1 MB + 64 KB is sent and the request is never ended.
    const answer = await rawInvoke({ 'x-amz-invocation-type': 'Event' }, [
      Buffer.alloc(1024 * 1024, 32),
      Buffer.alloc(64 * 1024, 32),
    ]);
    // Assess
    expect(answer.status).toBe(413);
    expect(answer.type).toBe('RequestEntityTooLargeException');
    expect(answer.message).toMatch(
      /^\d+ byte payload is too large for the Event invocation type \(limit 1048576 bytes\)$/,
    );
  });

  it('accepts an Event payload of exactly 1 MB with 202 and a request id', async () => {
    // Prepare: a JSON string of 1,048,576 bytes, quotes included.
    const payload = Buffer.from(JSON.stringify('x'.repeat(1024 * 1024 - 2)), 'utf8');
    // Act
    const output = await lambda.send(
      new InvokeCommand({ FunctionName: 'Probe', InvocationType: 'Event', Payload: payload }),
    );
    // Assess
    expect(payload.byteLength).toBe(1024 * 1024);
    expect(output.StatusCode).toBe(202);
    expect(output.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts an Event invocation of a function that has shut down without an unhandled rejection', async () => {
    // Prepare
    const rejections: unknown[] = [];
    const onRejection = (reason: unknown) => rejections.push(reason);
    process.on('unhandledRejection', onRejection);
    const closed = localFunction('Probe');
    await closed.close();
    functions.set('Closed', closed);
    // Act
    const output = await invoke({ FunctionName: 'Closed', InvocationType: 'Event' });
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onRejection);
    // Assess
    expect(output.StatusCode).toBe(202);
    expect(rejections).toEqual([]);
  });

  it('accepts LogType Tail with an Event invocation, and returns no log', async () => {
    // Act
    const output = await invoke({ FunctionName: 'Probe', InvocationType: 'Event', LogType: 'Tail' });
    // Assess
    expect(output.StatusCode).toBe(202);
    expect(output.LogResult).toBeUndefined();
  });

  it('answers DryRun with 204', async () => {
    // Act
    const output = await invoke({ FunctionName: 'Probe', InvocationType: 'DryRun' });
    // Assess
    expect(output.StatusCode).toBe(204);
  });
});

describe('Local stack: function names', () => {
  /** The stack the local runtime plans by default: its region, account, name and endpoint. */
  const LOCAL_STACK = {
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT_ID,
    stackName: 'local',
    endpoint: 'http://127.0.0.1:4566',
  };

  it('names a function by its resolved FunctionName in its ARN, Ref and GetAtt, keeping the logical id as its key', () => {
    // Act
    const stack = planStack(loadTemplate('template.yaml'), LOCAL_STACK);
    // Assess
    const arn = `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:local-reprocessor`;
    expect(stack.functions.ReprocessorFunction).toMatchObject({
      name: 'ReprocessorFunction',
      functionName: 'local-reprocessor',
      arn,
    });
    expect(stack.outputs.ReprocessorFunctionName).toBe('local-reprocessor');
    expect(stack.context.resources.ReprocessorFunction!.attributes.Arn).toBe(arn);
  });

  it("reads the MaximumRetryAttempts of a function's EventInvokeConfig", () => {
    // Prepare
    const template = parseTemplate(
      [
        'Transform: AWS::Serverless-2016-10-31',
        'Resources:',
        '  NoRetry:',
        '    Type: AWS::Serverless::Function',
        '    Properties:',
        '      Handler: index.handler',
        '      Runtime: nodejs24.x',
        '      EventInvokeConfig: { MaximumRetryAttempts: 0 }',
        '  Default:',
        '    Type: AWS::Serverless::Function',
        '    Properties: { Handler: index.handler, Runtime: nodejs24.x }',
        '',
      ].join('\n'),
    );
    // Act
    const stack = planStack(template, LOCAL_STACK);
    // Assess
    expect(stack.functions.NoRetry!.asyncRetryAttempts).toBe(0);
    expect(stack.functions.Default).not.toHaveProperty('asyncRetryAttempts');
  });

  it("reads a function's ReservedConcurrentExecutions, its own or from Globals, and leaves it out when unset", () => {
    // Prepare
    const template = parseTemplate(
      [
        'Transform: AWS::Serverless-2016-10-31',
        'Globals:',
        '  Function:',
        '    ReservedConcurrentExecutions: 5',
        'Resources:',
        '  Own:',
        '    Type: AWS::Serverless::Function',
        '    Properties: { Handler: index.handler, Runtime: nodejs24.x, ReservedConcurrentExecutions: 0 }',
        '  FromGlobals:',
        '    Type: AWS::Serverless::Function',
        '    Properties: { Handler: index.handler, Runtime: nodejs24.x }',
        '',
      ].join('\n'),
    );
    // Act
    const stack = planStack(template, LOCAL_STACK);
    const unset = planStack(loadTemplate('template.yaml'), LOCAL_STACK);
    // Assess
    expect(stack.functions.Own!.reservedConcurrency).toBe(0);
    expect(stack.functions.FromGlobals!.reservedConcurrency).toBe(5);
    expect(unset.functions.ConsumerFunction).not.toHaveProperty('reservedConcurrency');
  });

  it('keeps the logical id as the name of a function without FunctionName', () => {
    // Act
    const stack = planStack(loadTemplate('template.yaml'), LOCAL_STACK);
    // Assess
    expect(stack.functions.IngestFunction!.functionName).toBeUndefined();
    expect(stack.outputs.ConsumerFunctionName).toBe('ConsumerFunction');
    expect(stack.functions.ConsumerFunction!.arn).toBe(
      `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:ConsumerFunction`,
    );
  });
});

describe('Local runtime: the S3 emulator folder', () => {
  let scratch: string;
  let savedTmpdir: string | undefined;

  beforeAll(() => {
    // tmpdir() follows TMPDIR, so the runtime's temporary folders land where only this test looks.
    scratch = mkdtempSync(join(tmpdir(), 'runtime-tmp-'));
    savedTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
  });

  afterAll(() => {
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts the runtime in memory on `template`, on ports of its choosing, unbuilt, with its bundles in `bundles`. */
  const startQuietly = (template: string, bundles: string) =>
    startRuntime({
      templatePath: template,
      apiPort: 0,
      endpointPort: 0,
      skipBuild: true,
      bundleRoot: join(scratch, bundles),
      log: () => undefined,
    });

  it('removes the temporary S3 folder of an in-memory runtime when it stops', async () => {
    // Prepare: a template with a queue and no function, so nothing is built.
    const template = join(scratch, 'template.yaml');
    writeFileSync(
      template,
      'AWSTemplateFormatVersion: "2010-09-09"\nResources:\n  Queue:\n    Type: AWS::SQS::Queue\n',
    );
    const runtime = await startQuietly(template, 'bundles');
    const during = readdirSync(scratch).filter((name) => name.startsWith('local-s3-'));
    // Act
    await runtime.stop();
    // Assess
    expect(during).toHaveLength(1);
    expect(existsSync(join(scratch, during[0]!))).toBe(false);
  });

  it('removes it when the runtime fails to start', async () => {
    // Prepare: a function without a bundle fails the start once the emulators run.
    const template = join(scratch, 'failing.yaml');
    writeFileSync(
      template,
      [
        'AWSTemplateFormatVersion: "2010-09-09"',
        'Transform: AWS::Serverless-2016-10-31',
        'Resources:',
        '  Lonely:',
        '    Type: AWS::Serverless::Function',
        '    Properties:',
        '      Handler: index.handler',
        '      Runtime: nodejs24.x',
        '      CodeUri: ./',
        '',
      ].join('\n'),
    );
    // Act
    const start = startQuietly(template, 'no-bundles');
    // Assess
    await expect(start).rejects.toThrow("run 'npm run build'");
    expect(readdirSync(scratch).filter((name) => name.startsWith('local-s3-'))).toEqual([]);
  });

  it('refuses to start, before anything runs, a function whose variables Lambda would refuse at deploy', async () => {
    // Prepare: a function that sets AWS_REGION (reserved: it would replace the runtime's own), through Globals,
    // and a variable whose name Lambda does not take.
    const template = join(scratch, 'reserved.yaml');
    writeFileSync(
      template,
      [
        'AWSTemplateFormatVersion: "2010-09-09"',
        'Transform: AWS::Serverless-2016-10-31',
        'Globals:',
        '  Function:',
        '    Environment:',
        '      Variables:',
        '        AWS_REGION: eu-west-1',
        'Resources:',
        '  Lonely:',
        '    Type: AWS::Serverless::Function',
        '    Properties:',
        '      Handler: index.handler',
        '      Runtime: nodejs24.x',
        '      CodeUri: ./',
        '      Environment:',
        '        Variables:',
        '          TABLE-NAME: events',
        '          TZ: Europe/Paris',
        '',
      ].join('\n'),
    );
    // Act
    const start = startQuietly(template, 'no-bundles');
    // Assess: both named, TZ (not reserved) not; no emulator was started for it.
    await expect(start).rejects.toThrow(
      "Lambda would refuse this template's function variables: Resources.Lonely.Properties.Environment.Variables: AWS_REGION is reserved by Lambda",
    );
    await expect(start).rejects.toThrow(
      "Resources.Lonely.Properties.Environment.Variables: 'TABLE-NAME' is not a variable name Lambda takes",
    );
    await expect(start).rejects.not.toThrow('TZ');
    expect(readdirSync(scratch).filter((name) => name.startsWith('local-s3-'))).toEqual([]);
  });
});
