import { at, type Finding, finding, type Location } from './findings.ts';
import { branches, isPlainObject, kindOf } from './intrinsics.ts';
import type { Template } from './parse.ts';

/**
 * Rule 6, the pipeline's wiring:
 * - every tunable event-source property of a pull event (Kinesis, DynamoDB, SQS) is a `Ref` to a parameter of
 *   its own: no literal, no parameter shared by two different properties, no parameter named for another
 *   property (the swapped retry-attempts/parallelization-factor mistake);
 * - a stream consumer has no function-level DeadLetterQueue (it never fires for stream event sources; the
 *   stream's failure destination is the event's DestinationConfig.OnFailure).
 * Alarms and dashboards are rule 7 (observability.ts).
 */

export const TUNABLE_EVENT_PROPERTIES = [
  'BatchSize',
  'MaximumBatchingWindowInSeconds',
  'ParallelizationFactor',
  'MaximumRetryAttempts',
  'MaximumRecordAgeInSeconds',
  'StartingPosition',
  'StartingPositionTimestamp',
  'TumblingWindowInSeconds',
] as const;

const PULL_EVENTS = new Set(['Kinesis', 'DynamoDB', 'SQS']);
const STREAM_EVENTS = new Set(['Kinesis', 'DynamoDB']);

/** The distinctive part of a property's name, as a parameter named for it would contain it. */
const stem = (property: string): string =>
  property
    .replace(/^Maximum/, '')
    .replace(/InSeconds$/, '')
    .replace(/Factor$/, '')
    .toLowerCase();

/** The tunable property a parameter is named for: the one whose stem is the longest part of its name. */
const namedFor = (parameter: string): string | undefined => {
  const name = parameter.toLowerCase();
  let best: string | undefined;
  for (const property of TUNABLE_EVENT_PROPERTIES) {
    if (name.includes(stem(property)) && (!best || stem(property).length > stem(best).length))
      best = property;
  }
  return best;
};

interface Use {
  readonly property: string;
  readonly parameter: string;
  readonly location: Location;
}

export const checkWiring = (template: Template): Finding[] => {
  const out: Finding[] = [];
  const parameters = new Set(Object.keys(template.Parameters ?? {}));
  const globalDlq = template.Globals?.Function?.DeadLetterQueue;
  const uses: Use[] = [];

  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (!isPlainObject(resource)) continue;
    const location = { resource: logicalId, path: '' };
    const properties = isPlainObject(resource.Properties) ? resource.Properties : {};

    if (resource.Type !== 'AWS::Serverless::Function') continue;

    const events = isPlainObject(properties.Events) ? properties.Events : {};
    let streamEvent: string | undefined;
    for (const [eventName, event] of Object.entries(events)) {
      if (!isPlainObject(event) || typeof event.Type !== 'string' || !PULL_EVENTS.has(event.Type)) continue;
      if (STREAM_EVENTS.has(event.Type)) streamEvent ??= eventName;
      const eventProperties = isPlainObject(event.Properties) ? event.Properties : {};
      const eventLocation = at(at(at(location, 'Events'), eventName), 'Properties');
      for (const property of TUNABLE_EVENT_PROPERTIES) {
        if (!(property in eventProperties)) continue;
        const propertyLocation = at(eventLocation, property);
        // Fn::If may choose between parameters or drop the property (AWS::NoValue); each choice is checked.
        for (const value of branches(eventProperties[property])) {
          const parameter = isPlainObject(value) && typeof value.Ref === 'string' ? value.Ref : undefined;
          if (parameter === undefined || !parameters.has(parameter)) {
            const got = parameter === undefined ? kindOf(value) : `a Ref to ${parameter}`;
            out.push(finding(propertyLocation, `must be a Ref to a parameter of its own, got ${got}`));
            continue;
          }
          uses.push({ property, parameter, location: propertyLocation });
        }
      }
    }

    const dlq = properties.DeadLetterQueue ?? globalDlq;
    if (streamEvent !== undefined && dlq !== undefined) {
      const where = properties.DeadLetterQueue === undefined ? ' (from Globals)' : '';
      out.push(
        finding(
          at(location, 'DeadLetterQueue'),
          `never receives failed records of stream event ${streamEvent}${where}; use its DestinationConfig.OnFailure`,
        ),
      );
    }
  }

  for (const use of uses) {
    const sharing = uses.filter((other) => other.parameter === use.parameter);
    const owners = new Set(sharing.map((other) => other.property));
    const intended = namedFor(use.parameter);
    if (owners.size > 1) {
      // The parameter belongs to the property it is named for, else to its first user; the others are reported.
      const owner = intended !== undefined && owners.has(intended) ? intended : sharing[0]!.property;
      if (use.property !== owner) {
        out.push(
          finding(
            use.location,
            `shares parameter ${use.parameter} with ${owner}: give it a parameter of its own`,
          ),
        );
      }
    } else if (intended !== undefined && intended !== use.property) {
      out.push(finding(use.location, `refers to parameter ${use.parameter}, which is named for ${intended}`));
    }
  }
  return out;
};
