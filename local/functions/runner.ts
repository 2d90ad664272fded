import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { PlannedFunction } from '#local/stack.ts';

/**
 * Runs one function of the template locally: a pool of worker threads, each an execution environment with the
 * function's own environment variables, one invocation at a time, and the template's timeout (a timed-out
 * environment is discarded, as Lambda does).
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
}

export interface RunnerOptions {
  /** Folder holding `<LogicalId>/<module>.mjs` bundles, as `npm run build` writes them. */
  bundleRoot: string;
  /** Variables every function gets (endpoint, credentials, region), under the template's own. */
  baseEnvironment: Record<string, string>;
  /** Receives each log line the function writes. */
  log: (functionName: string, line: string) => void;
  maxConcurrency?: number;
  /** Called with every event before it runs. */
  observe?: (functionName: string, event: unknown) => void;
  /** Told about every invocation once it has ended, with its result. */
  settled?: (functionName: string, event: unknown, result: InvokeResult) => void;
}

interface Environment {
  worker: Worker;
  ready: Promise<FunctionError | undefined>;
}

const MODULE_EXTENSIONS = ['.mjs', '.js', '.cjs'];

export class LocalFunction {
  readonly definition: PlannedFunction;
  readonly modulePath: string;
  readonly exportName: string;
  private readonly options: RunnerOptions;
  private readonly idle: Environment[] = [];
  private readonly all = new Set<Environment>();
  private readonly waiting: Array<() => void> = [];
  private nextId = 0;
  private closed = false;
  /** Invocations and failed invocations since start, for the live view. */
  readonly counts = { invocations: 0, errors: 0 };

  constructor(definition: PlannedFunction, options: RunnerOptions) {
    this.definition = definition;
    this.options = options;
    const dot = definition.handler.lastIndexOf('.');
    if (dot <= 0) {
      throw new Error(
        `${definition.logicalId}: Handler '${definition.handler}' is not of the form module.export`,
      );
    }
    const base = join(options.bundleRoot, definition.logicalId, definition.handler.slice(0, dot));
    const found = MODULE_EXTENSIONS.map((ext) => base + ext).find((path) => existsSync(path));
    if (!found) {
      throw new Error(
        `${definition.logicalId}: no bundle at ${base}.mjs; run 'npm run build' (the local runtime runs what it builds)`,
      );
    }
    this.modulePath = found;
    this.exportName = definition.handler.slice(dot + 1);
  }

  get environmentVariables(): Record<string, string> {
    const d = this.definition;
    return {
      ...this.options.baseEnvironment,
      AWS_LAMBDA_FUNCTION_NAME: d.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(d.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${d.name}`,
      AWS_EXECUTION_ENV: `AWS_Lambda_${d.runtime}`,
      LAMBDA_TASK_ROOT: join(this.options.bundleRoot, d.logicalId),
      ...d.environment,
    };
  }

  private spawn(): Environment {
    const d = this.definition;
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      env: this.environmentVariables,
      stdout: true,
      stderr: true,
      workerData: {
        modulePath: this.modulePath,
        exportName: this.exportName,
        functionName: d.name,
        functionArn: d.arn,
        memoryMb: d.memoryMb,
        logGroupName: `/aws/lambda/${d.name}`,
      },
    });
    for (const stream of [worker.stdout, worker.stderr] as Readable[]) {
      createInterface({ input: stream }).on('line', (line) => this.options.log(d.name, line));
    }
    const ready = new Promise<FunctionError | undefined>((resolve) => {
      const onMessage = (message: { type: string; error?: FunctionError }) => {
        if (message.type === 'ready') resolve(undefined);
        if (message.type === 'init-error') resolve(message.error);
        if (message.type === 'ready' || message.type === 'init-error') worker.off('message', onMessage);
      };
      worker.on('message', onMessage);
      worker.once('error', (error) =>
        resolve({ errorType: 'Runtime.ExitError', errorMessage: error.message }),
      );
    });
    const environment = { worker, ready };
    this.all.add(environment);
    worker.once('exit', () => {
      this.all.delete(environment);
      const at = this.idle.indexOf(environment);
      if (at >= 0) this.idle.splice(at, 1);
    });
    return environment;
  }

  private async acquire(): Promise<Environment> {
    const limit = this.options.maxConcurrency ?? 10;
    while (this.idle.length === 0 && this.all.size >= limit) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    return this.idle.pop() ?? this.spawn();
  }

  private release(environment: Environment, healthy: boolean): void {
    if (healthy && !this.closed && this.all.has(environment)) this.idle.push(environment);
    else void environment.worker.terminate();
    this.waiting.shift()?.();
  }

  async invoke(event: unknown): Promise<InvokeResult> {
    const result = await this.invokeOnce(event);
    this.options.settled?.(this.definition.name, event, result);
    return result;
  }

  private async invokeOnce(event: unknown): Promise<InvokeResult> {
    if (this.closed) throw new Error(`${this.definition.name} is shut down`);
    const requestId = randomUUID();
    const started = performance.now();
    this.counts.invocations += 1;
    this.options.observe?.(this.definition.name, event);
    const timeoutMs = this.definition.timeoutSeconds * 1000;
    const environment = await this.acquire();
    const failed = (error: FunctionError, healthy: boolean): InvokeResult => {
      this.counts.errors += 1;
      this.release(environment, healthy);
      return {
        requestId,
        payload: error,
        functionError: 'Unhandled',
        durationMs: performance.now() - started,
      };
    };
    const initError = await environment.ready;
    if (initError) return failed(initError, false);

    const id = ++this.nextId;
    return new Promise<InvokeResult>((resolve) => {
      const timer = setTimeout(() => {
        environment.worker.off('message', onMessage);
        resolve(
          failed(
            {
              errorType: 'Sandbox.Timedout',
              errorMessage: `Task timed out after ${this.definition.timeoutSeconds.toFixed(2)} seconds`,
            },
            false,
          ),
        );
      }, timeoutMs);
      const onMessage = (message: { type: string; id?: number; json?: string; error?: FunctionError }) => {
        if (message.id !== id) return;
        clearTimeout(timer);
        environment.worker.off('message', onMessage);
        if (message.type === 'result') {
          this.release(environment, true);
          resolve({ requestId, payload: JSON.parse(message.json!), durationMs: performance.now() - started });
        } else {
          resolve(failed(message.error!, true));
        }
      };
      environment.worker.on('message', onMessage);
      environment.worker.postMessage({
        id,
        event,
        awsRequestId: requestId,
        deadline: Date.now() + timeoutMs,
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.all].map((e) => e.worker.terminate()));
    for (const wake of this.waiting.splice(0)) wake();
  }
}
