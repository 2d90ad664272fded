import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EnginesRangeError, satisfiesEngines } from '#scripts/lib/node-engines.ts';

const root = resolve(import.meta.dirname, '../..');
const engines = (
  JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { engines: { node: string } }
).engines.node;

/** The exit status and stderr of scripts/check-node.ts run with `args`. */
const checkNode = async (...args: string[]): Promise<{ code: number; stderr: string }> => {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, ['scripts/check-node.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
    });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code: number; stderr: string };
    return { code: failed.code, stderr: failed.stderr };
  }
};

describe('CI: the Node.js versions package.json admits', () => {
  // Type stripping runs .ts files without a flag from 22.18.0 on the 22 line and from 23.6.0 (Node.js's
  // typescript.md history); 22.6 to 22.17 and 23.0 to 23.5 need --experimental-strip-types.
  describe.each([
    ['20.19.5', false],
    ['22.6.0', false],
    ['22.17.1', false],
    ['22.18.0', true],
    ['22.23.3', true],
    ['23.0.0', false],
    ['23.5.0', false],
    ['23.6.0', true],
    ['23.11.1', true],
    ['24.0.0', true],
    ['24.21.0', true],
    ['25.9.0', true],
  ])('Node.js %s', (version, runsTypeScript) => {
    it(`is ${runsTypeScript ? '' : 'not '}in engines.node, as it does${runsTypeScript ? '' : ' not'} run .ts files by default`, () => {
      // Act
      const admitted = satisfiesEngines(version, engines);
      // Assess
      expect(admitted).toBe(runsTypeScript);
    });
  });

  it('reads a ^ comparator as its own major only, and >= as everything above', () => {
    // Act
    const verdicts = ['22.18.0', '22.99.0', '23.0.0', '24.0.0'].map((v) => satisfiesEngines(v, '^22.18.0'));
    const open = ['22.17.9', '22.18.0', '30.0.0'].map((v) => satisfiesEngines(v, '>=22.18.0'));
    // Assess
    expect(verdicts).toEqual([true, true, false, false]);
    expect(open).toEqual([false, true, true]);
  });

  it('refuses a comparator it does not read rather than answering no', () => {
    // Act
    const reading = () => satisfiesEngines('24.0.0', '~22.18.0 || >=24');
    // Assess
    expect(reading).toThrow(EnginesRangeError);
    expect(reading).toThrow("'~22.18.0' in '~22.18.0 || >=24' is neither ^X.Y.Z nor >=X.Y.Z");
  });

  it('exits 0 for the Node.js running it, 1 naming the range for one it leaves out, 2 for no version', async () => {
    // Act
    const current = await checkNode();
    const tooOld = await checkNode('23.5.0');
    const notAVersion = await checkNode('23.x');
    // Assess
    expect(current).toEqual({ code: 0, stderr: '' });
    expect(tooOld).toEqual({
      code: 1,
      stderr: `Node.js 23.5.0 is not in package.json's engines.node (${engines})\n`,
    });
    expect(notAVersion).toEqual({ code: 2, stderr: "'23.x' is not a version such as 22.18.0\n" });
  });
});
