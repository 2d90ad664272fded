import { constants as osConstants } from 'node:os';

/**
 * The exit status of a command stopped by a signal: 128 and the signal's number (130 for SIGINT, 143 for SIGTERM);
 * 130 for a name the platform does not know.
 */
export const signalExitCode = (signal: NodeJS.Signals): number => 128 + (osConstants.signals[signal] ?? 2);

/**
 * The commands' Ctrl-C: the first SIGINT or SIGTERM starts a clean stop (`first`), and a second one while that stop
 * runs calls `again`, which quits at once, so that a stop waiting on something that hangs can always be cut short.
 */
export const onStopSignals = (
  first: (signal: NodeJS.Signals) => void,
  again: (signal: NodeJS.Signals) => void,
  target: Pick<NodeJS.EventEmitter, 'on'> = process,
): void => {
  let stopping = false;
  const handle = (signal: NodeJS.Signals) => {
    if (stopping) {
      again(signal);
      return;
    }
    stopping = true;
    first(signal);
  };
  target.on('SIGINT', handle);
  target.on('SIGTERM', handle);
};
