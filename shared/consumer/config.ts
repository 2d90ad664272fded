import { ConfigError, integerFrom, optionalString, requireString } from '#shared/config.ts';
import { MAX_ITEM_BYTES } from '#shared/sink/item-size.ts';
import { DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES } from '#shared/sink/storage-plan.ts';

/** The consumer's settings, read once at init; a missing or malformed variable fails fast, naming it. */
export interface ConsumerConfig {
  tableName: string;
  quarantineBucket: string;
  quarantinePrefix: string;
  claimCheckBucket: string;
  claimCheckPrefix: string;
  /** Items estimated above this size move their data to the claim check. */
  claimCheckThresholdBytes: number;
  /** The version of the projection logic; raise it to have a reprocess rewrite every item once. */
  projectionVersion: number;
  /** How many partition keys of one batch are processed at the same time. */
  keyConcurrency: number;
  /** Time kept back from the Lambda deadline: no record is started with less than this left, in milliseconds. */
  timeReserveMs: number;
}

export const loadConsumerConfig = (env: Record<string, string | undefined> = process.env): ConsumerConfig => {
  const quarantineBucket = requireString('QUARANTINE_BUCKET', env);
  const quarantinePrefix = optionalString('QUARANTINE_PREFIX', 'quarantine/', env);
  // One bucket serves both by default, under different prefixes: quarantined records expire, claims never do.
  const claimCheckBucket = optionalString('CLAIM_CHECK_BUCKET', quarantineBucket, env);
  const claimCheckPrefix = optionalString('CLAIM_CHECK_PREFIX', 'claim-check/', env);
  if (
    claimCheckBucket === quarantineBucket &&
    (claimCheckPrefix.startsWith(quarantinePrefix) || quarantinePrefix.startsWith(claimCheckPrefix))
  ) {
    throw new ConfigError(
      `Environment variable CLAIM_CHECK_PREFIX ('${claimCheckPrefix}') must not overlap QUARANTINE_PREFIX ` +
        `('${quarantinePrefix}') in the same bucket: the quarantine's lifecycle rule would expire claimed data`,
    );
  }
  return {
    tableName: requireString('TABLE_NAME', env),
    quarantineBucket,
    quarantinePrefix,
    claimCheckBucket,
    claimCheckPrefix,
    claimCheckThresholdBytes: integerFrom(
      'CLAIM_CHECK_THRESHOLD_BYTES',
      DEFAULT_CLAIM_CHECK_THRESHOLD_BYTES,
      { min: 1, max: MAX_ITEM_BYTES },
      env,
    ),
    projectionVersion: integerFrom('PROJECTION_VERSION', 1, { min: 1 }, env),
    keyConcurrency: integerFrom('KEY_CONCURRENCY', 16, { min: 1, max: 1000 }, env),
    timeReserveMs: integerFrom('TIME_RESERVE_MS', 2_000, { min: 0 }, env),
  };
};
