import { cpus, release, totalmem, type } from 'node:os';
import type { MachineInfo } from '#bench/lib/results.ts';

/** What the results were measured on, for the table's heading. */
export const machineInfo = (): MachineInfo => ({
  cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 1024 ** 3),
  node: process.versions.node,
  os: `${type()} ${release()}`,
});
