/** Helpers for CloudFormation intrinsic functions in a parsed (long-form) template. */

export const PSEUDO_PARAMETERS: ReadonlySet<string> = new Set([
  'AWS::AccountId',
  'AWS::NotificationARNs',
  'AWS::NoValue',
  'AWS::Partition',
  'AWS::Region',
  'AWS::StackId',
  'AWS::StackName',
  'AWS::URLSuffix',
]);

export type PlainObject = Record<string, unknown>;

export const isPlainObject = (value: unknown): value is PlainObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The function name of an intrinsic (`Ref`, `Fn::If`, …), or undefined when the value is not one. */
export const intrinsicName = (value: unknown): string | undefined => {
  if (!isPlainObject(value)) return undefined;
  const keys = Object.keys(value);
  if (keys.length !== 1) return undefined;
  const [key] = keys as [string];
  return key === 'Ref' || key.startsWith('Fn::') ? key : undefined;
};

export const isNoValue = (value: unknown): boolean => isPlainObject(value) && value.Ref === 'AWS::NoValue';

/**
 * The values a property may take once conditions are resolved: the branches of `Fn::If` (recursively), with
 * `AWS::NoValue` dropped; any other value as itself.
 */
export const branches = (value: unknown): unknown[] => {
  if (intrinsicName(value) === 'Fn::If') {
    const args = (value as PlainObject)['Fn::If'];
    if (Array.isArray(args) && args.length === 3) return [...branches(args[1]), ...branches(args[2])];
    return [];
  }
  return isNoValue(value) ? [] : [value];
};

/** The `${Name}` and `${Resource.Attribute}` references of an `Fn::Sub` string; `${!Literal}` is skipped. */
export const subReferences = (text: string): string[] =>
  [...text.matchAll(/\$\{([^}]*)\}/g)]
    .map((match) => (match[1] ?? '').trim())
    .filter((name) => !name.startsWith('!'));

export const kindOf = (value: unknown): string => {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (isPlainObject(value)) return 'a map';
  return `${typeof value} ${JSON.stringify(value)}`;
};
