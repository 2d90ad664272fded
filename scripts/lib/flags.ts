import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Command-line flags of the project's commands, validated with messages that name the flag. */

/** One condition a flag's value must meet. */
export type NumberCheck = { above: number } | { min: number } | { max: number } | { integer: true };

export interface NumberRule {
  /** The value when the flag is absent; without it the flag is required. */
  fallback?: number;
  /** Checked in the order given; the first that fails is the one reported. */
  checks?: readonly NumberCheck[];
}

/** What a failure is thrown as, so that each tool keeps its own error class. */
export type FlagErrorClass = new (message: string) => Error;

/** The reason `value` fails `check`, or undefined when it passes. */
const failure = (check: NumberCheck, value: number): string | undefined => {
  if ('above' in check) return value > check.above ? undefined : `must be greater than ${check.above}`;
  if ('min' in check) return value >= check.min ? undefined : `must be at least ${check.min}`;
  if ('max' in check) return value <= check.max ? undefined : `must be at most ${check.max}`;
  return Number.isInteger(value) ? undefined : 'must be a whole number';
};

/** A decimal number: digits with an optional sign, fraction and exponent (`12`, `-1.5`, `.5`, `2e3`). */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i;

// Hand-written: node:util parseArgs yields strings only and no validation library is a dependency here.
/** `--flag`'s raw text as a number that meets `rule`; throws `ErrorClass` naming the flag and the value. */
export const numberFlag = (
  flag: string,
  raw: string | undefined,
  rule: NumberRule,
  ErrorClass: FlagErrorClass,
): number => {
  if (raw === undefined) {
    if (rule.fallback === undefined) throw new ErrorClass(`--${flag} is required`);
    return rule.fallback;
  }
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value)) {
    throw new ErrorClass(`--${flag} must be a number, got '${raw}'`);
  }
  // Number() also reads hexadecimal, octal and binary literals ('0x10' is 16): only decimal is meant here.
  if (!DECIMAL.test(raw.trim())) {
    throw new ErrorClass(`--${flag} must be a decimal number, got '${raw}'`);
  }
  for (const check of rule.checks ?? []) {
    const reason = failure(check, value);
    if (reason !== undefined) throw new ErrorClass(`--${flag} ${reason}, got ${raw}`);
  }
  return value;
};

/** A flag parseFlags refused (unknown, missing its value, given twice): bad usage, answered with the usage. */
export const isFlagError = (error: unknown): boolean =>
  String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS');

/** parseArgs' message, without its hint on positionals that start with '-', which no command here takes. */
export const flagErrorMessage = (error: Error): string =>
  error.message.split('. To specify a positional')[0]!;

/** A flag given twice, which parseFlags refuses; thrown as parseArgs throws, so each tool reports it the same way. */
export class RepeatedFlagError extends TypeError {
  readonly code = 'ERR_PARSE_ARGS_REPEATED_OPTION';
  constructor(flag: string, raws: string[]) {
    super(`--${flag} is given more than once (${raws.join(', ')}): give it once`);
    this.name = 'RepeatedFlagError';
  }
}

/**
 * The arguments with a negative number after a flag that takes a value joined to it (`--rate -1` →
 * `--rate=-1`). parseArgs reads `-1` as a flag of its own and refuses the pair as ambiguous; joined, the value
 * reaches the flag's own check, which names the flag and the bounds it must be within.
 */
const withNegativeValues = (args: readonly string[], options: ParseArgsConfig['options'] = {}): string[] => {
  const takesValue = new Set<string>();
  for (const [name, option] of Object.entries(options)) {
    if (option.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (option.short) takesValue.add(`-${option.short}`);
  }
  const joined: string[] = [];
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg === '--') {
      joined.push(...args.slice(i));
      break;
    }
    if (takesValue.has(arg) && next?.startsWith('-') && DECIMAL.test(next)) {
      joined.push(`${arg}=${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
};

/**
 * node:util parseArgs, refusing a flag given more than once unless it is declared `multiple`. parseArgs keeps the
 * last value silently, so `--rate 100 --rate 2000` would run at 2,000 without a word. Same config, same result,
 * except that a negative number is taken as a flag's value (`--rate -1`), to be checked like any other.
 */
export const parseFlags = <T extends ParseArgsConfig>(options: T): ReturnType<typeof parseArgs<T>> => {
  // Same type as the config given: only its arguments differ.
  const config: T = {
    ...options,
    args: withNegativeValues(options.args ?? process.argv.slice(2), options.options),
  };
  const { tokens = [] } = parseArgs({ ...config, tokens: true });
  const given = new Map<string, string[]>();
  for (const token of tokens) {
    if (token.kind !== 'option' || config.options?.[token.name]?.multiple) continue;
    const raw = token.value === undefined ? token.rawName : `${token.rawName} ${token.value}`;
    given.set(token.name, [...(given.get(token.name) ?? []), raw]);
  }
  for (const [flag, raws] of given) if (raws.length > 1) throw new RepeatedFlagError(flag, raws);
  return parseArgs(config);
};
