import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['local/cli.ts', ...args], {
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

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
    [['--fault-put-records-rate', '2'], 'putRecordsFailureRate must be between 0 and 1'],
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

  it('names the port in use and the option that changes it', async () => {
    // Act
    const outcome = await run(['--in-memory', '--no-build', '--endpoint-port', String(occupiedPort)]);
    // Assess
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      `port ${occupiedPort} is already in use (another local runtime?); stop it, or choose another port with --endpoint-port`,
    );
  });
});
