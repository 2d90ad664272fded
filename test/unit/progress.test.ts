import { describe, expect, it } from 'vitest';
import { createProgress } from '#scripts/lib/progress.ts';

/** A stream that is not a terminal, keeping what is written. */
const plainStream = () => {
  const written: string[] = [];
  const stream = {
    isTTY: false,
    write: (text: string) => written.push(text),
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
};

describe('Commands: progress bar', () => {
  it.each([
    [0, '[------------------------] 0%'],
    [815, '[###################-----] 81%'],
    [999, '[#######################-] 99%'],
    [1000, '[########################] 100%'],
    [1200, '[########################] 100%'],
  ])('shows %i of 1000 as %s: the bar and its figure rounded down alike', (done, bar) => {
    // Prepare
    const { stream, written } = plainStream();
    // Act
    createProgress('work', stream).update(done, 1000, 'detail');
    // Assess
    expect(written).toEqual([`work ${bar} detail\n`]);
  });

  it.each([
    ['below 0', -5],
    ['not a number', Number.NaN],
  ])('shows a share %s as an empty bar, never a failure or a NaN figure', (_, done) => {
    // Prepare
    const { stream, written } = plainStream();
    // Act
    createProgress('work', stream).update(done, 1000, 'detail');
    // Assess
    expect(written).toEqual(['work [------------------------] 0% detail\n']);
  });

  it('shows a count alone when there is no total, and writes a plain line only when it changes', () => {
    // Prepare
    const { stream, written } = plainStream();
    const progress = createProgress('work', stream);
    // Act
    progress.update(3, undefined, 'detail');
    progress.update(3, undefined, 'detail');
    progress.update(4, undefined, 'detail');
    // Assess
    expect(written).toEqual(['work 3 detail\n', 'work 4 detail\n']);
  });
});
