import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { levelDbOpenProblem, type RunningEmulator, startKinesis } from '#local/emulators/index.ts';
import { unusedPort } from '#test/helpers/runtime.ts';

const run = async (args: string[], script = 'local/cli.ts', cwd = process.cwd()) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [resolve(script), ...args], {
      timeout: 60_000,
      cwd,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

/** `npm start` on free ports with the data folder given, not building the functions (`--no-build`). */
const startOn = (dataDir: string, ...more: string[]) =>
  run(['--no-build', ...more, '--endpoint-port', '0', '--port', '0', '--data-dir', dataDir]);

describe('Local runtime: npm start options', () => {
  let occupied: Server;
  let occupiedPort: number;

  beforeAll(async () => {
    occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    occupiedPort = (occupied.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => occupied.close(resolve));
  });

  it('shows the usage with --help, with or without the start command', async () => {
    // Act
    const outcomes = await Promise.all([run(['--help']), run(['start', '-h'])]);
    // Assess
    for (const outcome of outcomes) {
      expect(outcome.code).toBe(0);
      expect(outcome.stdout).toContain('usage: npm start -- [options]');
    }
  });

  it.each([
    [['--api-port', '3001'], "Unknown option '--api-port'"],
    [['stop'], "unknown command 'stop'"],
    [['--port', '70000'], "--port must be a port number, got '70000'"],
    [['--endpoint-port', 'abc'], "--endpoint-port must be a port number, got 'abc'"],
    [['--fault-put-records-rate', '2'], '--fault-put-records-rate must be at most 1, got 2'],
    [['--fault-put-records-rate', 'abc'], "--fault-put-records-rate must be a number, got 'abc'"],
    [['--fault-dynamodb', '/[/'], 'Invalid regular expression'],
  ])(
    'refuses %j with exit status 2, the reason and the usage, before starting anything',
    async (args, reason) => {
      // Act
      const outcome = await run(args);
      // Assess
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toContain(reason);
      expect(outcome.stderr).toContain('usage: npm start -- [options]');
      expect(outcome.stdout).not.toContain('Local pipeline running');
    },
  );

  it('refuses a fault for a function the template does not have, before starting anything', async () => {
    // Act
    const outcome = await run([
      '--in-memory',
      '--no-build',
      '--fault-function',
      'x',
      '--fault-function-name',
      'NoSuch',
    ]);
    // Assess
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      "npm start failed: functionName 'NoSuch' is not a function of the template; the functions are IngestFunction",
    );
    expect(outcome.stdout).not.toContain('Local pipeline running');
  });

  it('names the port in use and the option that changes it', async () => {
    // Act
    const outcome = await run(['--in-memory', '--no-build', '--endpoint-port', String(occupiedPort)]);
    // Assess
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      `port ${occupiedPort} is already in use (another local runtime?); stop it, or choose another port with --endpoint-port`,
    );
  });

  it('finds the HTTP API port taken before it touches the data folder or builds anything', async () => {
    // Prepare: a data folder --fresh would empty, and free ports for the endpoint.
    const folder = mkdtempSync(join(tmpdir(), 'cli-port-'));
    writeFileSync(join(folder, 'kept'), 'data');
    try {
      // Act
      const outcome = await run([
        '--data-dir',
        folder,
        '--fresh',
        '--port',
        String(occupiedPort),
        '--endpoint-port',
        '0',
      ]);
      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(
        `port ${occupiedPort} is already in use (another local runtime?); stop it, or choose another port with --port`,
      );
      expect(outcome.stdout).not.toContain('built');
      expect(readFileSync(join(folder, 'kept'), 'utf8')).toBe('data');
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('names every port in use at once, each with its flag, before anything starts', async () => {
    // Prepare: a second port taken besides occupiedPort
    const second = createServer();
    await new Promise<void>((resolve) => second.listen(0, '127.0.0.1', resolve));
    const secondPort = (second.address() as AddressInfo).port;
    try {
      // Act
      const outcome = await run([
        '--in-memory',
        '--no-build',
        '--endpoint-port',
        String(secondPort),
        '--port',
        String(occupiedPort),
      ]);
      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(
        `ports ${occupiedPort} and ${secondPort} are already in use (another local runtime?); stop it, or choose other ports with --port and --endpoint-port`,
      );
      expect(outcome.stdout).not.toContain('[runtime] stream');
    } finally {
      await new Promise((resolve) => second.close(resolve));
    }
  });

  it('refuses one port for both the HTTP API and the AWS endpoint, with exit status 2, before anything starts', async () => {
    // Prepare: a port nothing listens on
    const freePort = await unusedPort();
    // Act
    const outcome = await run([
      '--in-memory',
      '--no-build',
      '--port',
      String(freePort),
      '--endpoint-port',
      String(freePort),
    ]);
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      `--port and --endpoint-port are both ${freePort}: the HTTP API and the AWS endpoint need a port each`,
    );
    expect(outcome.stderr).toContain('usage: npm start -- [options]');
    expect(outcome.stdout).not.toContain('[runtime] stream');
  });

  it('npm start names a data store LevelDB cannot open, and the ways on, before anything else opens it', async () => {
    // Prepare: Kinesis data written by an earlier start, then cut short as a crash mid-write can leave it
    const folder = mkdtempSync(join(tmpdir(), 'cli-corrupt-'));
    const store = join(folder, '.local', 'kinesis');
    const earlier = await startKinesis({ path: store });
    await earlier.close();
    writeFileSync(join(store, 'CURRENT'), '');
    try {
      // Act
      const outcome = await startOn(join(folder, '.local'));
      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(`npm start failed: the kinesis data in ${store} cannot be opened (`);
      expect(outcome.stderr).toContain(
        'move that folder away to start without it, or start with --fresh (which drops all the local data)',
      );
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it.each([
    ['whose parent does not exist yet', ['never-started', 'kinesis']],
    ['that does not exist yet', ['kinesis']],
  ])(
    'finds nothing wrong with a data store %s, so that npm start (and --fresh) can make it',
    async (_, path) => {
      // Prepare
      const folder = mkdtempSync(join(tmpdir(), 'cli-data-'));
      try {
        // Act
        const problem = await levelDbOpenProblem(join(folder, ...path));
        // Assess
        expect(problem).toBeUndefined();
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  );

  describe('with the data folder held by another runtime', () => {
    let folder: string;
    let holder: RunningEmulator;

    beforeAll(async () => {
      folder = mkdtempSync(join(tmpdir(), 'cli-data-'));
      // A runtime's Kinesis data, as `npm start` keeps it: LevelDB locks the folder while it is open.
      holder = await startKinesis({ path: join(folder, '.local', 'kinesis') });
    });

    afterAll(async () => {
      await holder.close();
      rmSync(folder, { recursive: true, force: true });
    });

    it('npm start names the data folder in use and the options that avoid it', async () => {
      // Act
      const outcome = await startOn(join(folder, '.local'));
      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(
        `the data folder ${join(folder, '.local')} is in use by another local runtime; stop it, or choose another with --data-dir (or --in-memory)`,
      );
    });

    it('npm start --fresh refuses the data folder in use and leaves it as it is', async () => {
      // Prepare: what the other runtime keeps besides its LevelDB stores (its saved queue messages).
      writeFileSync(join(folder, '.local', 'kept'), 'data');
      // Act
      const outcome = await startOn(join(folder, '.local'), '--fresh');
      // Assess
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(
        `the data folder ${join(folder, '.local')} is in use by another local runtime; stop it, or choose another with --data-dir (or --in-memory)`,
      );
      expect(readFileSync(join(folder, '.local', 'kept'), 'utf8')).toBe('data');
    });

    it('npm run invoke, finding no runtime at its endpoint, says to give the running one with --endpoint', async () => {
      // Act
      const outcome = await run(
        [
          'IngestFunction',
          '--no-build',
          '--endpoint',
          'http://127.0.0.1:9',
          '--template',
          resolve('template.yaml'),
        ],
        'local/invoke.ts',
        folder,
      );
      // Assess
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toContain(
        'the data folder .local is in use by a local runtime that is not at http://127.0.0.1:9; give its AWS endpoint with --endpoint',
      );
    });
  });
});

describe('Local runtime: npm run invoke usage', () => {
  it.each([
    [['IngestFunction', '--bogus'], "Unknown option '--bogus'\n"],
    [['IngestFunction', '--event'], "Option '-e, --event <value>' argument missing"],
    [['IngestFunction', '-e', 'a.json', '-e', 'b.json'], '--event is given more than once'],
  ])('%j exits 2 with the message and the usage, as the other commands do', async (args, message) => {
    // Act
    const outcome = await run(args, 'local/invoke.ts');
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(message);
    expect(outcome.stderr).toContain('usage: npm run invoke -- <FunctionLogicalId> [options]');
    expect(outcome.stderr).not.toContain('To specify a positional argument');
    expect(outcome.stderr).not.toContain('invoke failed');
  });

  it('names the functions of the template for one it does not have, before booting a runtime for the call', async () => {
    // Act: no runtime answers at the endpoint
    const outcome = await run(
      ['NoSuchFunction', '--no-build', '--endpoint', 'http://127.0.0.1:9'],
      'local/invoke.ts',
    );
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      "no function 'NoSuchFunction' in template.yaml; it has IngestFunction, ConsumerFunction, DlqReplayFunction, ReprocessorFunction",
    );
    expect(outcome.stderr).not.toContain('starting one for this call');
  });

  it("given the HTTP API's address for --endpoint, says so and names the flag, instead of booting a runtime of its own", async () => {
    // Prepare: a server that answers as the local runtime's HTTP API does off its routes
    const api = createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"message":"Not Found"}');
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
    const folder = mkdtempSync(join(tmpdir(), 'cli-invoke-'));
    try {
      // Act
      const outcome = await run(
        ['IngestFunction', '--no-build', '--endpoint', endpoint, '--template', resolve('template.yaml')],
        'local/invoke.ts',
        folder,
      );
      // Assess
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toContain(
        `${endpoint} answers, but is no local runtime's AWS endpoint (GET /_local/faults answered HTTP 404). Is it its HTTP API (npm start's --port)? Give the AWS endpoint (--endpoint-port, 4566 by default) with --endpoint`,
      );
      expect(outcome.stderr).not.toContain('starting one for this call');
    } finally {
      await new Promise((resolve) => api.close(resolve));
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
