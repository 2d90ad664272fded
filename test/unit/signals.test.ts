import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { onStopSignals, signalExitCode } from '#scripts/lib/signals.ts';

describe('Commands: Ctrl-C', () => {
  it('starts a clean stop at the first SIGINT or SIGTERM, and quits at once at the next', () => {
    // Prepare
    const calls: string[] = [];
    const process = new EventEmitter();
    onStopSignals(
      (signal) => calls.push(`stop ${signal}`),
      (signal) => calls.push(`quit ${signal}`),
      process,
    );
    // Act
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGTERM', 'SIGTERM');
    // Assess
    expect(calls).toEqual(['stop SIGTERM', 'quit SIGINT', 'quit SIGTERM']);
  });

  it('exits with 128 and the signal number', () => {
    expect([signalExitCode('SIGINT'), signalExitCode('SIGTERM')]).toEqual([130, 143]);
  });
});
