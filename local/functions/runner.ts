import { randomUUID } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PlannedFunction } from '#local/stack.ts';
import { type ParsedHandler, parseHandler } from '#local/template/handlers.ts';

/**
 * Runs one function of the template locally: a pool of worker threads, each an execution environment with the
 * function's own environment variables, one invocation at a time, and the template's timeout. An environment
 * whose invocation timed out, or whose runtime exited, is discarded, as Lambda does.
 */

export interface FunctionError {
  errorType: string;
  errorMessage: string;
  trace?: string[];
}

export interface InvokeResult {
  requestId: string;
  /** What the handler returned (JSON-decoded), or the error document when it failed. */
  payload: unknown;
  /** Set when the invocation failed, as the Lambda Invoke API's X-Amz-Function-Error header. */
  functionError?: 'Unhandled';
  durationMs: number;
  /**
   * The end of the invocation's log as Lambda writes it (START, what the function logged, END, REPORT): at least
   * its last LOG_TAIL_BYTES bytes, which the Invoke API returns for LogType Tail.
   */
  log?: string;
}

export interface InvokeOptions {
  /** The caller's ClientContext (the Invoke API's, decoded), which the function finds in its context's clientContext. */
  clientContext?: Record<string, unknown>;
}

export interface RunnerOptions {
  /** Folder holding `<LogicalId>/<module>.mjs` bundles, as `npm run build` writes them. */
  bundleRoot: string;
  /** Variables every function gets (endpoint, credentials, region), under the template's own. */
  baseEnvironment: Record<string, string>;
  /** Receives each log line the function writes, and the runtime's notes on asynchronous invocations. */
  log: (functionName: string, line: string) => void;
  maxConcurrency?: number;
  /**
   * Waits before the retries of a failed asynchronous (Event) invocation, one per retry. Lambda retries twice,
   * about 1 and 2 minutes apart; locally the default is 1 s and 2 s.
   */
  asyncRetryDelaysMs?: readonly number[];
  /**
   * Lambda's init phase (10 s): an init that takes longer than this and the function's timeout together fails its
   * invocation with Sandbox.Timedout, as Lambda's does once its second try, within the function's timeout, runs out.
   */
  initTimeoutMs?: number;
  /** Called with every event before it runs. */
  observe?: (functionName: string, event: unknown) => void;
  /** Told about every invocation once it has ended, with its result. */
  settled?: (functionName: string, event: unknown, result: InvokeResult) => void;
}

/** What Lambda returns of an invocation's log for LogType Tail: its last 4 KB. */
export const LOG_TAIL_BYTES = 4096;

export const DEFAULT_ASYNC_RETRY_DELAYS_MS: readonly number[] = [1_000, 2_000];

const DEFAULT_INIT_TIMEOUT_MS = 10_000;

/**
 * The longest text kept waiting for its end of line; past it a line is logged in pieces of this length, so that a
 * function that never ends its line cannot grow the runtime's memory without bound.
 */
export const MAX_OPEN_LINE_CHARS = 256 * 1024;

/** The invocation running in an environment, told what it logs and whether its runtime exits. */
interface Running {
  line(text: string): void;
  exited(code: number): void;
}

interface Environment {
  worker: Worker;
  ready: Promise<FunctionError | undefined>;
  /** How long the init phase took, reported (as Lambda does) on the environment's first invocation only. */
  initMs?: number;
  exitCode?: number;
  /** Invocations it has been given. */
  invocations: number;
  running?: Running;
  /** Text written without its end of line yet, per stream. */
  partial: Record<string, string>;
}

/** One invocation's log lines, keeping only as many as its tail needs. */
class InvocationLog {
  private readonly lines: string[] = [];
  private bytes = 0;

  add(line: string): void {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line, 'utf8') + 1;
    while (
      this.lines.length > 1 &&
      this.bytes - Buffer.byteLength(this.lines[0]!, 'utf8') - 1 >= LOG_TAIL_BYTES
    ) {
      this.bytes -= Buffer.byteLength(this.lines.shift()!, 'utf8') + 1;
    }
  }

  /** The lines kept, which end with at least the last LOG_TAIL_BYTES bytes of the log. */
  text(): string {
    return this.lines.map((line) => `${line}\n`).join('');
  }
}

/** The files Lambda's runtime tries for a module, in its order (src/function/module-loader.ts). */
const MODULE_EXTENSIONS = ['', '.js', '.mjs', '.cjs'];

/** Lambda's words for a runtime that exited: `exit status N`, or none at all for a clean exit. */
const exitReason = (code: number): string =>
  code === 0 ? 'Runtime exited without providing a reason' : `Runtime exited with error: exit status ${code}`;

/** Lambda's time zone for every function (the TZ of its reserved variables). */
export const LAMBDA_TZ = ':UTC';

/**
 * Puts the process in Lambda's time zone. A worker thread's clock follows its process's zone, not the TZ of its
 * env, so the functions' workers run in UTC only when the process that starts them does; Node applies a TZ set on
 * process.env at once (it resets its time zone caches). Only the main thread's process.env sets the zone: a host
 * that is itself a worker thread keeps its own. Nothing the runtime prints depends on the zone: its times are ISO
 * 8601 UTC.
 */
export const useLambdaTimeZone = (): void => {
  if (process.env.TZ !== LAMBDA_TZ) process.env.TZ = LAMBDA_TZ;
};

export class LocalFunction {
  readonly definition: PlannedFunction;
  /** The Handler as Lambda's runtime reads it, with the file of its module when there is one; undefined if malformed. */
  readonly handler: (ParsedHandler & { modulePath: string | undefined }) | undefined;
  private readonly options: RunnerOptions;
  private readonly idle: Environment[] = [];
  private readonly all = new Set<Environment>();
  private readonly waiting: Array<() => void> = [];
  /** Waits between asynchronous retries, ended early by close. */
  private readonly pauses = new Map<NodeJS.Timeout, () => void>();
  private nextId = 0;
  private closed = false;
  /** Invocations started and not yet ended, those waiting for an environment included. */
  private inFlight = 0;
  /** Invocations and failed invocations since start, for the live view. */
  readonly counts = { invocations: 0, errors: 0 };

  constructor(definition: PlannedFunction, options: RunnerOptions) {
    // Before any worker starts: each host of functions (npm start, npm run invoke, tests) gets Lambda's clock.
    useLambdaTimeZone();
    this.definition = definition;
    this.options = options;
    const taskRoot = join(options.bundleRoot, definition.logicalId);
    if (!existsSync(taskRoot)) {
      throw new Error(
        `${definition.logicalId}: no bundle in ${taskRoot}; run 'npm run build' (the local runtime runs what it builds)`,
      );
    }
    // A Handler Lambda cannot read or load fails each invocation's init with Lambda's error, as on AWS.
    const parsed = parseHandler(definition.handler);
    this.handler = parsed && {
      ...parsed,
      modulePath: MODULE_EXTENSIONS.map((ext) =>
        join(taskRoot, parsed.moduleRoot, parsed.moduleName + ext),
      ).find((path) => statSync(path, { throwIfNoEntry: false })?.isFile()),
    };
  }

  /** The function's name on Lambda: its FunctionName, else (locally) its logical id. */
  get functionName(): string {
    return this.definition.functionName ?? this.definition.name;
  }

  /** The function's log group, as Lambda names it: its LoggingConfig.LogGroup, else `/aws/lambda/<name>`. */
  get logGroupName(): string {
    return this.definition.logGroupName ?? `/aws/lambda/${this.functionName}`;
  }

  /**
   * The variables of an environment whose log stream is `logStreamName`: the ones Lambda sets (the Lambda
   * developer guide's "Defined runtime environment variables"), under the template's own, which never name a
   * reserved one (the runtime refuses such a template at start, local/template/environment.ts) but may set TZ. LAMBDA_TASK_ROOT is the
   * function's bundle folder and LAMBDA_RUNTIME_DIR the local runtime's, where Lambda has /var/task and /var/runtime.
   */
  private environmentVariables(logStreamName: string): Record<string, string> {
    const d = this.definition;
    const region = d.arn.split(':')[3] ?? '';
    return {
      ...this.options.baseEnvironment,
      _HANDLER: d.handler,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_LAMBDA_FUNCTION_NAME: this.functionName,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(d.memoryMb),
      // Set by Lambda for on-demand functions; Powertools reports a cold start only when it is.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: this.logGroupName,
      AWS_LAMBDA_LOG_STREAM_NAME: logStreamName,
      AWS_EXECUTION_ENV: `AWS_Lambda_${d.runtime}`,
      LAMBDA_TASK_ROOT: join(this.options.bundleRoot, d.logicalId),
      LAMBDA_RUNTIME_DIR: dirname(fileURLToPath(import.meta.url)),
      TZ: LAMBDA_TZ,
      // Lambda's advanced logging controls, which its Node.js runtime reads to format what console writes.
      ...(d.jsonLogs
        ? { AWS_LAMBDA_LOG_FORMAT: 'JSON', AWS_LAMBDA_LOG_LEVEL: d.jsonLogs.applicationLogLevel }
        : {}),
      ...d.environment,
    };
  }

  /** A new environment's log stream, named as Lambda names it: `YYYY/MM/DD/[$LATEST]<32 hex digits>`. */
  private logStreamName(): string {
    const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
    return `${day}/[$LATEST]${randomUUID().replaceAll('-', '')}`;
  }

  /** One line the function wrote: to the runtime's log, and to the invocation running, if any. */
  private logLine(environment: Environment, line: string): void {
    this.options.log(this.definition.name, line);
    environment.running?.line(line);
  }

  private logText(environment: Environment, stream: string, text: string): void {
    const open = (environment.partial[stream] ?? '') + text;
    // Text without an end of line only waits for one: splitting all that is open on every write is quadratic.
    if (open.length < MAX_OPEN_LINE_CHARS && !text.includes('\n')) {
      environment.partial[stream] = open;
      return;
    }
    const lines = open.split('\n');
    let rest = lines.pop()!;
    for (const line of lines) this.logLine(environment, line.endsWith('\r') ? line.slice(0, -1) : line);
    for (; rest.length >= MAX_OPEN_LINE_CHARS; rest = rest.slice(MAX_OPEN_LINE_CHARS)) {
      this.logLine(environment, rest.slice(0, MAX_OPEN_LINE_CHARS));
    }
    environment.partial[stream] = rest;
  }

  /** Ends the lines left open, so that they are counted with the invocation that wrote them. */
  private flushLog(environment: Environment): void {
    for (const [stream, text] of Object.entries(environment.partial)) {
      if (text !== '') this.logLine(environment, text);
      environment.partial[stream] = '';
    }
  }

  private spawn(): Environment {
    const d = this.definition;
    const spawnedAt = performance.now();
    const logStreamName = this.logStreamName();
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      env: this.environmentVariables(logStreamName),
      stdout: true,
      stderr: true,
      workerData: {
        modulePath: this.handler?.modulePath,
        moduleName: this.handler?.moduleName,
        exportPath: this.handler?.handlerName,
        handlerName: d.handler,
        functionName: this.functionName,
        functionArn: d.arn,
        memoryMb: d.memoryMb,
        logGroupName: this.logGroupName,
        logStreamName,
        sampled: d.tracing === 'Active',
      },
    });
    const environment: Environment = {
      worker,
      ready: Promise.resolve(undefined),
      invocations: 0,
      partial: { stdout: '', stderr: '' },
    };
    // The worker sends its output through its port (worker.ts); anything that still reaches its stdio is kept too.
    for (const stream of [worker.stdout, worker.stderr] as Readable[]) {
      createInterface({ input: stream }).on('line', (line) => this.logLine(environment, line));
    }
    // The function's own code can post to the same port (parentPort), anything at all, null included.
    worker.on('message', (message: { type: string; stream?: string; text?: string } | null) => {
      if (message?.type === 'log') this.logText(environment, message.stream ?? 'stdout', message.text ?? '');
    });
    environment.ready = new Promise<FunctionError | undefined>((resolve) => {
      const onMessage = (message: { type: string; error?: FunctionError } | null) => {
        if (message?.type !== 'ready' && message?.type !== 'init-error') return;
        worker.off('message', onMessage);
        environment.initMs = performance.now() - spawnedAt;
        resolve(message.type === 'ready' ? undefined : message.error);
      };
      worker.on('message', onMessage);
      worker.once('exit', (code) =>
        resolve({ errorType: 'Runtime.ExitError', errorMessage: exitReason(code) }),
      );
    });
    // An error the worker did not handle itself; its exit follows, which ends the invocation it was running.
    worker.on('error', (error) => this.options.log(d.name, `runtime error: ${error.stack ?? error.message}`));
    this.all.add(environment);
    worker.once('exit', (code) => {
      environment.exitCode = code;
      this.all.delete(environment);
      const at = this.idle.indexOf(environment);
      if (at >= 0) this.idle.splice(at, 1);
      this.flushLog(environment);
      environment.running?.exited(code);
      // A place in the pool is free again.
      this.wake();
    });
    return environment;
  }

  private wake(): void {
    this.waiting.shift()?.();
  }

  /**
   * Whether the function runs as many invocations as its ReservedConcurrentExecutions allows, so that Lambda would
   * throttle one more (a synchronous Invoke is then refused with 429; the other callers wait for a place).
   */
  get atReservedConcurrency(): boolean {
    const reserved = this.definition.reservedConcurrency;
    return reserved !== undefined && this.inFlight >= reserved;
  }

  private async acquire(): Promise<Environment> {
    // Never more environments than the function's reserved concurrency, which Lambda does not go past either.
    const limit = Math.min(
      this.options.maxConcurrency ?? 10,
      this.definition.reservedConcurrency ?? Number.POSITIVE_INFINITY,
    );
    while (!this.closed && this.idle.length === 0 && this.all.size >= limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    if (this.closed) throw new Error(`${this.definition.name} is shut down`);
    return this.idle.pop() ?? this.spawn();
  }

  private release(environment: Environment, healthy: boolean): void {
    if (healthy && !this.closed && this.all.has(environment)) this.idle.push(environment);
    else void environment.worker.terminate();
    this.wake();
  }

  async invoke(
    event: unknown,
    requestId: string = randomUUID(),
    options: InvokeOptions = {},
  ): Promise<InvokeResult> {
    this.inFlight += 1;
    let result: InvokeResult;
    try {
      result = await this.invokeOnce(event, requestId, options);
    } finally {
      this.inFlight -= 1;
    }
    this.options.settled?.(this.definition.name, event, result);
    return result;
  }

  /**
   * An asynchronous (Event) invocation: runs in the background and, when it fails, is retried twice (or its
   * EventInvokeConfig's MaximumRetryAttempts) after `asyncRetryDelaysMs`, as Lambda does; each failed attempt is logged, and close stops the retries. All
   * attempts share the request id returned.
   */
  invokeAsync(event: unknown): string {
    const requestId = randomUUID();
    void this.runAsync(event, requestId);
    return requestId;
  }

  private async runAsync(event: unknown, requestId: string): Promise<void> {
    // As many retries as the function's EventInvokeConfig allows (MaximumRetryAttempts), else Lambda's two.
    const delays = (this.options.asyncRetryDelaysMs ?? DEFAULT_ASYNC_RETRY_DELAYS_MS).slice(
      0,
      this.definition.asyncRetryAttempts,
    );
    const attempts = delays.length + 1;
    for (let attempt = 1; ; attempt += 1) {
      if (this.closed) {
        const what = attempt === 1 ? 'not run' : 'not retried';
        this.options.log(
          this.definition.name,
          `asynchronous invocation ${requestId} ${what}: ${this.definition.name} is shut down`,
        );
        return;
      }
      let failure: string;
      try {
        const result = await this.invoke(event, requestId);
        if (!result.functionError) return;
        const error = result.payload as FunctionError;
        failure = `${error.errorType}: ${error.errorMessage}`;
      } catch (error) {
        failure = (error as Error).message;
      }
      const delay = attempt < attempts ? delays[attempt - 1] : undefined;
      this.options.log(
        this.definition.name,
        `asynchronous invocation ${requestId} failed (attempt ${attempt} of ${attempts}): ${failure}; ${delay === undefined ? 'giving up' : `retrying in ${delay} ms`}`,
      );
      if (delay === undefined) return;
      await this.pause(delay);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.closed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => {
        this.pauses.delete(timer);
        resolve();
      }, ms);
      this.pauses.set(timer, resolve);
    });
  }

  /**
   * The outcome of an environment's init, or 'timeout' once it has taken the init phase's time and then the
   * function's timeout: an init that never ends fails the invocation rather than holding it, and its place, for ever.
   */
  private initialised(
    environment: Environment,
    timeoutMs: number,
  ): Promise<FunctionError | undefined | 'timeout'> {
    if (environment.initMs !== undefined) return environment.ready;
    return new Promise((resolve) => {
      const timer = setTimeout(
        () => resolve('timeout'),
        (this.options.initTimeoutMs ?? DEFAULT_INIT_TIMEOUT_MS) + timeoutMs,
      );
      void environment.ready.then((outcome) => {
        clearTimeout(timer);
        resolve(outcome);
      });
    });
  }

  private async invokeOnce(event: unknown, requestId: string, options: InvokeOptions): Promise<InvokeResult> {
    if (this.closed) throw new Error(`${this.definition.name} is shut down`);
    const started = performance.now();
    this.counts.invocations += 1;
    this.options.observe?.(this.definition.name, event);
    const timeoutMs = this.definition.timeoutSeconds * 1000;
    const environment = await this.acquire();
    const firstInvocation = environment.invocations === 0;
    environment.invocations += 1;
    const initError = await this.initialised(environment, timeoutMs);
    const log = new InvocationLog();
    log.add(`START RequestId: ${requestId} Version: $LATEST`);

    const id = ++this.nextId;
    return new Promise<InvokeResult>((resolve) => {
      let settled = false;
      let invokedAt = performance.now();
      const finish = (
        outcome: { json: string } | { error: FunctionError; status: 'error' | 'timeout' },
        healthy: boolean,
        memoryMb?: number,
      ) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        environment.worker.off('message', onMessage);
        this.flushLog(environment);
        environment.running = undefined;
        const durationMs = performance.now() - started;
        const ranMs = performance.now() - invokedAt;
        const failed = 'error' in outcome;
        if (failed && outcome.status === 'timeout') {
          log.add(
            `${new Date().toISOString()} ${requestId} Task timed out after ${this.definition.timeoutSeconds.toFixed(2)} seconds`,
          );
        }
        log.add(`END RequestId: ${requestId}`);
        log.add(
          [
            `REPORT RequestId: ${requestId}`,
            `Duration: ${ranMs.toFixed(2)} ms`,
            `Billed Duration: ${Math.ceil(ranMs)} ms`,
            `Memory Size: ${this.definition.memoryMb} MB`,
            ...(memoryMb !== undefined ? [`Max Memory Used: ${memoryMb} MB`] : []),
            ...(firstInvocation && environment.initMs !== undefined
              ? [`Init Duration: ${environment.initMs.toFixed(2)} ms`]
              : []),
            ...(failed && !healthy ? [`Status: ${outcome.status}`] : []),
            ...(failed && !healthy && outcome.status === 'error'
              ? [`Error Type: ${outcome.error.errorType}`]
              : []),
          ].join('\t'),
        );
        if (failed) this.counts.errors += 1;
        this.release(environment, healthy);
        resolve({
          requestId,
          payload: failed ? outcome.error : JSON.parse(outcome.json),
          ...(failed ? { functionError: 'Unhandled' as const } : {}),
          durationMs,
          log: log.text(),
        });
      };
      const exited = (code: number) =>
        finish(
          {
            error: {
              errorType: 'Runtime.ExitError',
              errorMessage: `RequestId: ${requestId} Error: ${this.closed ? 'the local runtime shut down' : exitReason(code)}`,
            },
            status: 'error',
          },
          false,
        );
      const onMessage = (
        message: {
          type: string;
          id?: number;
          json?: string;
          error?: FunctionError;
          memoryMb?: number;
        } | null,
      ) => {
        if (message?.id !== id) return;
        if (message.type === 'result') finish({ json: message.json! }, true, message.memoryMb);
        else if (message.type === 'error')
          finish({ error: message.error!, status: 'error' }, true, message.memoryMb);
        else if (message.type === 'fatal')
          finish({ error: message.error!, status: 'error' }, false, message.memoryMb);
      };
      const timedOut = () =>
        finish(
          {
            error: {
              errorType: 'Sandbox.Timedout',
              errorMessage: `RequestId: ${requestId} Error: Task timed out after ${this.definition.timeoutSeconds.toFixed(2)} seconds`,
            },
            status: 'timeout',
          },
          false,
        );
      const timer = setTimeout(timedOut, timeoutMs);
      if (initError === 'timeout') {
        timedOut();
        return;
      }
      if (initError) {
        finish({ error: initError, status: 'error' }, false);
        return;
      }
      if (environment.exitCode !== undefined) {
        exited(environment.exitCode);
        return;
      }
      environment.running = { line: (text) => log.add(text), exited };
      environment.worker.on('message', onMessage);
      invokedAt = performance.now();
      environment.worker.postMessage({
        id,
        event,
        awsRequestId: requestId,
        deadline: Date.now() + timeoutMs,
        clientContext: options.clientContext,
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [timer, resolve] of this.pauses) {
      clearTimeout(timer);
      resolve();
    }
    this.pauses.clear();
    await Promise.all([...this.all].map((e) => e.worker.terminate()));
    for (const wake of this.waiting.splice(0)) wake();
  }
}
