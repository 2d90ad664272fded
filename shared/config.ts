/**
 * Configuration read once at init. A missing or malformed variable fails fast, naming the variable.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export const requireString = (name: string, env: Env = process.env): string => {
  const value = env[name];
  if (value === undefined || value.trim() === '') {
    throw new ConfigError(`Environment variable ${name} is required but is not set`);
  }
  return value;
};

export const optionalString = (name: string, fallback: string, env: Env = process.env): string => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? fallback : value;
};

export const integerFrom = (
  name: string,
  fallback: number,
  bounds: { min?: number; max?: number } = {},
  env: Env = process.env,
): number => {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) {
    throw new ConfigError(`Environment variable ${name} must be an integer, got '${raw}'`);
  }
  if (bounds.min !== undefined && value < bounds.min) {
    throw new ConfigError(`Environment variable ${name} must be at least ${bounds.min}, got ${value}`);
  }
  if (bounds.max !== undefined && value > bounds.max) {
    throw new ConfigError(`Environment variable ${name} must be at most ${bounds.max}, got ${value}`);
  }
  return value;
};
