import { PlanInputError, parsePlanArgs, planUsage } from '#bench/planner/capacity.ts';
import { makePlan } from '#bench/planner/costs.ts';
import { formatPlan } from '#bench/planner/format.ts';
import { loadPipelineLimits } from '#bench/planner/limits.ts';

/** `npm run plan -- --records-per-sec N --avg-size KB --consumers C [--efo]`: see bench/planner/. */
if (process.argv.slice(2).some((arg) => arg === '--help' || arg === '-h')) {
  console.log(planUsage());
  process.exit(0);
}
try {
  console.log(formatPlan(makePlan(parsePlanArgs(process.argv.slice(2)), loadPipelineLimits())));
} catch (error) {
  if (!(error instanceof PlanInputError)) throw error;
  console.error(`plan: ${error.message}\n${planUsage()}`);
  process.exit(2);
}
