/**
 * The Node.js versions package.json's `engines.node` admits: the range is one or more comparators joined by `||`,
 * each `^X.Y.Z` (that major, from X.Y.Z on) or `>=X.Y.Z` (anything from X.Y.Z on). Read by hand, not with the
 * semver package, because .ci/run asks it before `npm ci` has installed anything; other forms are refused.
 */

/** A range `engines.node` holds in a form this module does not read. */
export class EnginesRangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnginesRangeError';
  }
}

/** A version as numbers, missing parts 0 (`22.18` is 22.18.0); a leading `v` (process.version's) is dropped. */
const parts = (version: string): [number, number, number] => {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(version.trim());
  if (!match) throw new EnginesRangeError(`'${version}' is not a version such as 22.18.0`);
  return [Number(match[1]), Number(match[2] ?? 0), Number(match[3] ?? 0)];
};

const atLeast = (version: readonly number[], floor: readonly number[]): boolean => {
  for (let i = 0; i < 3; i += 1) {
    if (version[i]! !== floor[i]!) return version[i]! > floor[i]!;
  }
  return true;
};

/** Whether `version` (22.18.0, or v22.18.0) is in `range` (`^22.18.0 || >=23.6.0`). */
export const satisfiesEngines = (version: string, range: string): boolean => {
  const given = parts(version);
  return range.split('||').some((comparator) => {
    const match = /^\s*(\^|>=)\s*(\S+)\s*$/.exec(comparator);
    if (!match) {
      throw new EnginesRangeError(`'${comparator.trim()}' in '${range}' is neither ^X.Y.Z nor >=X.Y.Z`);
    }
    const floor = parts(match[2]!);
    return atLeast(given, floor) && (match[1] === '>=' || given[0] === floor[0]);
  });
};
