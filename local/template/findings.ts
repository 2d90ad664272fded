/** One problem found in a template: where it is (resource or section, then property path) and what it is. */
export interface Finding {
  /** Logical ID of the resource, or the section (`Parameters`, `Conditions`, `Outputs`, `Globals`). */
  readonly resource: string;
  /** Property path inside it, e.g. `Events.Stream.Properties.BatchSize` or `Policies[0].Statement[1].Action`. */
  readonly path: string;
  readonly message: string;
}

/** Collects findings for one resource while a check walks its properties. */
export interface Location {
  readonly resource: string;
  readonly path: string;
}

export const at = (location: Location, key: string | number): Location => ({
  resource: location.resource,
  path:
    typeof key === 'number'
      ? `${location.path}[${key}]`
      : location.path === ''
        ? key
        : `${location.path}.${key}`,
});

export const finding = (location: Location, message: string): Finding => ({
  resource: location.resource,
  path: location.path,
  message,
});

export const formatFinding = ({ resource, path, message }: Finding): string =>
  `${path === '' ? resource : `${resource}.${path}`}: ${message}`;
