/**
 * How items are converted to DynamoDB's attribute values, by the document client (document-client.ts) and by the
 * event store, which converts its own (shared/sink/dynamodb-event-store.ts): members left undefined are left out,
 * and numbers beyond 2^53 travel as NumberValue or bigint, never rounded. A module of its own, with nothing to load,
 * so that either can import it without the other.
 *
 * Frozen: lib-dynamodb writes into the marshall options it is given (`convertTopLevelContainer`), which would change
 * how the event store converts its items. A document client is given a copy (`{ ...MARSHALL_OPTIONS }`).
 */
export const MARSHALL_OPTIONS: Readonly<{ removeUndefinedValues: true }> = Object.freeze({
  removeUndefinedValues: true,
});
