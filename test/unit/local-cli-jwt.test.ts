import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unusedPort } from '#test/helpers/runtime.ts';

const run = async (args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [resolve('local/cli.ts'), ...args],
      {
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
};

describe('Local runtime: npm start options of the JWT ingest API', () => {
  let occupied: Server;
  let occupiedPort: number;
  let folder: string;

  beforeAll(async () => {
    occupied = createServer();
    await new Promise<void>((resolve) => occupied.listen(0, '127.0.0.1', resolve));
    occupiedPort = (occupied.address() as AddressInfo).port;
    folder = mkdtempSync(join(tmpdir(), 'cli-jwt-'));
    writeFileSync(join(folder, 'not-a-cert.pem'), 'hello');
  });

  afterAll(async () => {
    await new Promise((resolve) => occupied.close(resolve));
    rmSync(folder, { recursive: true, force: true });
  });

  it('lists --jwt-port and --jwt-issuer-ca in the usage', async () => {
    // Act
    const outcome = await run(['--help']);
    // Assess
    expect(outcome.stdout).toContain('--jwt-port <n>');
    expect(outcome.stdout).toContain('--jwt-issuer-ca <pem file>');
  });

  it.each([
    [['--jwt-port', 'x'], "--jwt-port must be a port number, got 'x'"],
    [['--jwt-issuer-ca', '/nonexistent/ca.pem'], '--jwt-issuer-ca cannot be read'],
    [['--jwt-issuer-ca', 'NOT_A_CERT'], '--jwt-issuer-ca must be a PEM certificate file'],
  ])('refuses %j with exit status 2 before starting anything', async (args, reason) => {
    // Act
    const outcome = await run(
      args.map((arg) => (arg === 'NOT_A_CERT' ? join(folder, 'not-a-cert.pem') : arg)),
    );
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(reason);
  });

  it('refuses the JWT API on the port of the HTTP API when IngestJwtIssuer is set, with exit status 2', async () => {
    // Prepare: a port nothing listens on
    const freePort = await unusedPort();
    // Act
    const outcome = await run([
      '--in-memory',
      '--endpoint-port',
      '0',
      '--port',
      String(freePort),
      '--jwt-port',
      String(freePort),
      '--parameter-overrides',
      'IngestJwtIssuer=https://issuer.example.com IngestJwtAudience=web',
    ]);
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      `--port and --jwt-port are both ${freePort}: the HTTP API and the JWT API need a port each`,
    );
    expect(outcome.stdout).not.toContain('[runtime] stream');
  });

  it('refuses one port for all three servers in one sentence that counts three, with exit status 2', async () => {
    // Prepare: a port nothing listens on
    const freePort = await unusedPort();
    const port = String(freePort);
    // Act
    const outcome = await run([
      '--in-memory',
      '--endpoint-port',
      port,
      '--port',
      port,
      '--jwt-port',
      port,
      '--parameter-overrides',
      'IngestJwtIssuer=https://issuer.example.com IngestJwtAudience=web',
    ]);
    // Assess
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toContain(
      `--port, --jwt-port and --endpoint-port are all ${freePort}: the HTTP API, the JWT API and the AWS endpoint need a port each`,
    );
  });

  it('names the JWT API port in use and --jwt-port, when IngestJwtIssuer is set', async () => {
    // Act
    const outcome = await run([
      '--in-memory',
      '--endpoint-port',
      '0',
      '--port',
      '0',
      '--jwt-port',
      String(occupiedPort),
      '--parameter-overrides',
      'IngestJwtIssuer=https://issuer.example.com IngestJwtAudience=web',
    ]);
    // Assess
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toContain(
      `port ${occupiedPort} is already in use (another local runtime?); stop it, or choose another port with --jwt-port`,
    );
  });
});
