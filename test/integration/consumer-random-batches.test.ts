import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FullBatchFailureError } from '@aws-lambda-powertools/batch';
import { type AttributeValue, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '#bench/lib/tables.ts';
import { clientConfig, type RunningEmulator, startDynamoDb, startS3 } from '#local/emulators/index.ts';
import { DYNAMODB_CLIENT_SETTINGS } from '#shared/clients/dynamodb.ts';
import { keepAliveHandler } from '#shared/clients/http-handler.ts';
import { KeyOrderedBatchProcessor } from '#shared/consumer/key-ordered-processor.ts';
import { type ConsumerReport, processRecords } from '#shared/consumer/process-records.ts';
import type { StreamRecord } from '#shared/events/stream-record.ts';
import type { Quarantine } from '#shared/quarantine/quarantine.ts';
import { S3Quarantine } from '#shared/quarantine/s3-quarantine.ts';
import { type ClaimPointer, S3ClaimCheck } from '#shared/sink/claim-check.ts';
import { DynamoDbEventStore } from '#shared/sink/dynamodb-event-store.ts';
import type { EventStore } from '#shared/sink/event-store.ts';
import { kplAggregate, metricsRecorder, SHARD_ID, silentLogger } from '#test/helpers/kinesis-factories.ts';
import { seededRandom } from '#test/helpers/random.ts';

/**
 * Random batches through the real consumer against dynalite and s3rver, with transient faults injected into the
 * sink's DynamoDB and S3 requests and the batches redelivered as the event source mapping does (from the lowest
 * failed sequence number; halves after a full failure), checked after every batch against the invariants of
 * docs/consumer.md. Everything random comes from one seed, and no fault depends on timing: a failure runs again.
 */

const SEED = 20_261_130;
const RECORDS = 400;
const BUCKET = 'consumer-random';
const THRESHOLD = 6 * 1024;
const KEYS = ['order-1', 'order-2', 'ключ-3', 'キー-4', '🔑-5', 'sensor/6', 'k7'];

// ---------------------------------------------------------------------------------------------------------------
// Values: JSON the producer writes (any key order and spacing), and the decimal-exact form the item must hold.

type Json =
  | { t: 'num'; text: string }
  | { t: 'str'; s: string }
  | { t: 'lit'; text: 'true' | 'false' | 'null' }
  | { t: 'arr'; items: Json[] }
  | { t: 'obj'; members: Array<[string, Json]> };

/** A decimal as digits and exponent, every zero `0`: the test's own reading of a number. */
const decimal = (text: string): string => {
  const match = /^(-?)(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(text);
  if (!match) throw new Error(`not a number: ${text}`);
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  let digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0';
  let power = Number(exponent) - fraction.length;
  const kept = digits.replace(/0+$/, '');
  power += digits.length - kept.length;
  digits = kept;
  return `${sign}${digits}e${power}`;
};

/** RFC 8785 number form where a double holds the number exactly; the producer's digits where it does not. */
const canonicalNumber = (text: string): string => {
  const value = Number(text);
  if (Math.abs(value) > Number.MAX_SAFE_INTEGER) return /^-?\d+$/.test(text) ? BigInt(text).toString() : text;
  return decimal(text) === decimal(String(value)) ? JSON.stringify(value) : text;
};

const sortedMembers = (members: Array<[string, Json]>) =>
  [...members].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const canonical = (v: Json): string => {
  switch (v.t) {
    case 'num':
      return canonicalNumber(v.text);
    case 'str':
      return JSON.stringify(v.s);
    case 'lit':
      return v.text;
    case 'arr':
      return `[${v.items.map(canonical).join(',')}]`;
    case 'obj':
      return `{${sortedMembers(v.members)
        .map(([k, m]) => `${JSON.stringify(k)}:${canonical(m)}`)
        .join(',')}}`;
  }
};

/** The value as compared with an item: keys sorted, numbers as decimals. */
const exact = (v: Json): string => {
  switch (v.t) {
    case 'num':
      return `#${decimal(v.text)}`;
    case 'str':
      return JSON.stringify(v.s);
    case 'lit':
      return v.text;
    case 'arr':
      return `[${v.items.map(exact).join(',')}]`;
    case 'obj':
      return `{${sortedMembers(v.members)
        .map(([k, m]) => `${JSON.stringify(k)}:${exact(m)}`)
        .join(',')}}`;
  }
};

/** The same form, read from an item as DynamoDB holds it. */
const exactOfAttribute = (a: AttributeValue): string => {
  if (a.N !== undefined) return `#${decimal(a.N)}`;
  if (a.S !== undefined) return JSON.stringify(a.S);
  if (a.BOOL !== undefined) return String(a.BOOL);
  if (a.NULL) return 'null';
  if (a.L) return `[${a.L.map(exactOfAttribute).join(',')}]`;
  if (a.M) {
    return `{${Object.keys(a.M)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${exactOfAttribute(a.M![k]!)}`)
      .join(',')}}`;
  }
  throw new Error(`unexpected attribute ${JSON.stringify(a)}`);
};

/** The claimed data, parsed back with its digits, in the same form. */
const exactOfText = (text: string): string => {
  const read = (value: unknown, source?: string): string => {
    if (typeof value === 'number') return `#${decimal(source ?? String(value))}`;
    if (typeof value === 'string' || typeof value === 'boolean' || value === null)
      return JSON.stringify(value);
    return value as string;
  };
  // The reviver hands each number's source text, and builds containers from the members' forms.
  return JSON.parse(text, ((_key: string, value: unknown, context?: { source?: string }) => {
    if (Array.isArray(value)) return `[${value.join(',')}]`;
    if (typeof value === 'object' && value !== null) {
      return `{${Object.keys(value)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${(value as Record<string, string>)[k]}`)
        .join(',')}}`;
    }
    return read(value, context?.source);
  }) as never) as string;
};

const emit = (v: Json, rnd: () => number): string => {
  const space = () => (rnd() < 0.2 ? ' ' : '');
  switch (v.t) {
    case 'num':
      return v.text;
    case 'str':
      return JSON.stringify(v.s);
    case 'lit':
      return v.text;
    case 'arr':
      return `[${v.items.map((i) => space() + emit(i, rnd)).join(',')}]`;
    case 'obj': {
      const members = [...v.members].sort(() => rnd() - 0.5);
      return `{${members.map(([k, m]) => `${space()}${JSON.stringify(k)}:${space()}${emit(m, rnd)}`).join(',')}}`;
    }
  }
};

/** Numbers a double holds, and numbers it does not, all within what DynamoDB stores. */
const STORABLE_NUMBERS = [
  '0',
  '-7',
  '3.5',
  '0.1',
  '2.5e3',
  '1.0',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '18446744073709551617',
  '1e20',
  '12345678901234567.5',
  '0.10000000000000000001',
  '4503599627370497.5',
  '1E-129',
  '9.99e125',
  '12345678901234567890123456789012345678',
];
const STRINGS = ['', 'plain', 'ü', '日本語', '🙂 emoji', 'quote " and \\', 'line\nbreak', '\u2028', 'tab\t'];

const value = (rnd: () => number, depth: number): Json => {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  const r = rnd();
  if (depth > 2 || r < 0.3) return { t: 'num', text: pick(STORABLE_NUMBERS) };
  if (r < 0.55) return { t: 'str', s: pick(STRINGS) };
  if (r < 0.6) return { t: 'lit', text: pick(['true', 'false', 'null'] as const) };
  if (r < 0.75)
    return { t: 'arr', items: Array.from({ length: Math.floor(rnd() * 4) }, () => value(rnd, depth + 1)) };
  const names = ['a', 'b', 'ü', 'x.y', 'long name', '🙂'];
  const members = new Map<string, Json>();
  for (let i = Math.floor(rnd() * 4); i > 0; i -= 1) members.set(pick(names), value(rnd, depth + 1));
  return { t: 'obj', members: [...members] };
};

// ---------------------------------------------------------------------------------------------------------------
// The stream: what each user record is, and what the consumer must make of it.

type Expected =
  | {
      store: true;
      identity: string;
      kind: 'cloudevent' | 'json';
      /** The data as the item holds it, or, for data_base64, the text. */
      data: string;
      attributes: Record<string, string>;
      binary: boolean;
    }
  | { store: false; reason: 'undecodable' | 'invalid' | 'unstorable' };

interface UserPlan {
  key: string;
  bytes: Buffer;
  expected: Expected;
}

interface Planned {
  record: StreamRecord;
  users: Array<UserPlan & { sub?: number }>;
}

const generateStream = (rnd: () => number): Planned[] => {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;
  let counter = 0;
  /** Storable user records already generated, by key, to draw duplicates from (only within a key, see below). */
  const earlier = new Map<string, UserPlan[]>();

  const cloudEvent = (key: string): UserPlan => {
    counter += 1;
    const source = pick(['urn:producer:a', 'https://example.com/ü']);
    const id = `e-${counter}-${pick(['', 'ü', ' sp', '/'])}`;
    const attributes: Record<string, string> = {
      specversion: '1.0',
      id,
      source,
      type: 'com.example.happened',
      subject: key,
      ...(rnd() < 0.3 ? { datacontenttype: 'application/json', traceparent: `00-${counter}` } : {}),
    };
    const large = rnd() < 0.08;
    const binary = rnd() < 0.1;
    const attributeText = Object.entries(attributes).map(
      ([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`,
    );
    if (binary) {
      const data = Buffer.alloc(
        large ? THRESHOLD + Math.floor(rnd() * 8000) : 1 + Math.floor(rnd() * 40),
        counter % 251,
      ).toString('base64');
      return {
        key,
        bytes: Buffer.from(`{${[...attributeText, `"data_base64":${JSON.stringify(data)}`].join(',')}}`),
        expected: {
          store: true,
          identity: ceIdentity(source, id),
          kind: 'cloudevent',
          data,
          attributes,
          binary: true,
        },
      };
    }
    const data: Json = large
      ? {
          t: 'obj',
          members: [
            ['blob', { t: 'str', s: 'ü'.repeat(THRESHOLD / 2 + Math.floor(rnd() * 5000)) }],
            ['n', value(rnd, 2)],
          ],
        }
      : value(rnd, 0);
    return {
      key,
      bytes: Buffer.from(
        `{${[...attributeText, `"data":${emit(data, rnd)}`].sort(() => rnd() - 0.5).join(',')}}`,
      ),
      expected: {
        store: true,
        identity: ceIdentity(source, id),
        kind: 'cloudevent',
        data: exact(data),
        attributes,
        binary: false,
      },
    };
  };

  const plainJson = (key: string): UserPlan => {
    counter += 1;
    const members: Array<[string, Json]> = [
      ['n', { t: 'num', text: String(counter) }],
      ['v', value(rnd, 0)],
    ];
    if (rnd() < 0.06)
      members.push(['blob', { t: 'str', s: '日'.repeat(THRESHOLD / 3 + Math.floor(rnd() * 3000)) }]);
    let data: Json = { t: 'obj', members };
    const r = rnd();
    // Any JSON value is a record: a number, a string, an array; and nesting up to the 31 levels DynamoDB takes.
    if (r < 0.05) data = { t: 'num', text: `${counter}${pick(['', '.5', 'e3', '000000000000000000001'])}` };
    else if (r < 0.1) data = { t: 'str', s: `s-${counter}-${pick(STRINGS)}` };
    else if (r < 0.13) data = { t: 'arr', items: [{ t: 'num', text: String(counter) }, value(rnd, 1)] };
    else if (r < 0.16) {
      data = { t: 'num', text: String(counter) };
      for (let i = 0; i < 31; i += 1) data = { t: 'arr', items: [data] };
    }
    return {
      key,
      bytes: Buffer.from(emit(data, rnd)),
      expected: {
        store: true,
        identity: jsonIdentityOf(data),
        kind: 'json',
        data: exact(data),
        attributes: {},
        binary: false,
      },
    };
  };

  const bad = (key: string): UserPlan => {
    let deep = '1';
    for (let i = 0; i < 40; i += 1) deep = `[${deep}]`;
    const cases: Array<[string | Buffer, Extract<Expected, { store: false }>['reason']]> = [
      [Buffer.from([0xff, 0xfe, 0x00]), 'undecodable'],
      ['{"unterminated": ', 'undecodable'],
      ['{"specversion":"1.0","id":"x","source":"urn:s","subject":"k"}', 'invalid'],
      ['{"specversion":"1.0","id":"x","source":"urn:s","type":"t","data":{"":1}}', 'invalid'],
      ['{"specversion":"1.0","id":"x","source":"urn:s","type":"t","data":{"n":1e400}}', 'invalid'],
      [`{"n":${counter},"deep":${deep}}`, 'unstorable'],
      [`{"n":${counter},"m":{"":1}}`, 'unstorable'],
      [`{"n":${counter},"__proto__":{"a":1}}`, 'unstorable'],
      [`{"n":${counter},"x":1e400}`, 'unstorable'],
      [`{"n":${counter},"x":1e-400}`, 'unstorable'],
      [`{"n":${counter},"x":1e126}`, 'unstorable'],
      [`{"n":${counter},"x":1234567890123456789012345678901234567891}`, 'unstorable'],
      [`{"n":${counter},"x":1E-131}`, 'unstorable'],
      [`{"n":${counter},"s":"a\\ud800b"}`, 'unstorable'],
      [`{"n":${counter},"deep":[${deep.slice(9, -9)}]}`, 'unstorable'],
      ['{"specversion":"1.0","id":"x\\udc00","source":"urn:s","type":"t"}', 'invalid'],
    ];
    counter += 1;
    const [bytes, reason] = pick(cases);
    return { key, bytes: Buffer.from(bytes), expected: { store: false, reason } };
  };

  /** A user record for `key`: new, or a copy of an earlier one of the same key (the same bytes or other ones). */
  const user = (key: string): UserPlan => {
    const r = rnd();
    const before = earlier.get(key) ?? [];
    let plan: UserPlan;
    if (r < 0.12 && before.length > 0) {
      const copy = pick(before);
      // A CloudEvent sent again under its id with other data is a producer's conflicting duplicate: the first stays.
      if (
        rnd() < 0.5 &&
        copy.expected.store &&
        copy.expected.kind === 'cloudevent' &&
        !copy.expected.binary
      ) {
        const event = { ...copy.expected.attributes, data: { conflicting: counter } };
        counter += 1;
        plan = {
          key,
          bytes: Buffer.from(JSON.stringify(event)),
          expected: { ...copy.expected, data: 'other' },
        };
      } else plan = { ...copy, key };
    } else if (r < 0.5) plan = cloudEvent(key);
    else if (r < 0.85) plan = plainJson(key);
    else plan = bad(key);
    if (plan.expected.store) earlier.set(key, [...before, plan]);
    return plan;
  };

  const stream: Planned[] = [];
  for (let n = 1; n <= RECORDS; n += 1) {
    const key = pick(KEYS);
    const record = (data: Buffer): StreamRecord => ({
      shardId: SHARD_ID,
      sequenceNumber: sequenceNumberOf(n),
      partitionKey: key,
      data,
      approximateArrivalTimestamp: new Date(Date.UTC(2026, 10, 30) + n),
    });
    const r = rnd();
    if (r < 0.15) {
      // A KPL aggregate under the first user record's key, its user records with keys of their own.
      const users = Array.from({ length: 1 + Math.floor(rnd() * 4) }, (_, i) =>
        user(i === 0 ? key : pick(KEYS)),
      );
      const bytes = kplAggregate(users.map((u) => ({ partitionKey: u.key, data: u.bytes })));
      stream.push({ record: record(bytes), users: users.map((u, sub) => ({ ...u, sub })) });
    } else if (r < 0.17) {
      // An aggregate whose checksum does not match: quarantined whole, under its outer position.
      const bytes = kplAggregate([{ partitionKey: key, data: Buffer.from('{"a":1}') }]);
      bytes[bytes.length - 1]! ^= 0xff;
      stream.push({
        record: record(bytes),
        users: [{ key, bytes, expected: { store: false, reason: 'undecodable' } }],
      });
    } else {
      const u = user(key);
      stream.push({ record: record(u.bytes), users: [u] });
    }
  }
  return stream;
};

/** Sequence numbers that grow from 55 digits to 56 in the middle of the stream: they compare as numbers. */
const sequenceNumberOf = (n: number): string => (10n ** 55n - 2_000n + BigInt(n * 10 - (n % 3))).toString();

const ceIdentity = (source: string, id: string) =>
  `ce:${encodeURIComponent(source)}:${encodeURIComponent(id)}`;
const jsonIdentityOf = (data: Json) =>
  `json:sha256:${createHash('sha256').update(canonical(data)).digest('hex')}`;

// ---------------------------------------------------------------------------------------------------------------
// Emulators, and the faults: each request of the sink may fail before it is sent or after it was done (a lost
// answer), decided by a hash of the invocation, the record and the request, never by the order of the requests.

let dynamoEmulator: RunningEmulator;
let s3Emulator: RunningEmulator;
let s3Directory: string;
let dynamodb: DynamoDBClient;
let reader: DynamoDBClient;
let s3: S3Client;
let claimCheck: S3ClaimCheck;

interface Call {
  seq: string;
  sub?: number;
}
const current = new AsyncLocalStorage<Call>();
const faults = {
  invocation: 0,
  rate: 0,
  faulted: new Set<string>(),
  calls: [] as Call[],
  counter: new Map<string, number>(),
};
/** Every PutItem DynamoDB carried out: identity and projection version. */
const writes: Array<{ identity: string; version: string }> = [];

const unit = (text: string): number => createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;

const inject = (service: string) =>
  ((next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
    async (args: { input: Record<string, unknown> }) => {
      const call = current.getStore();
      if (call === undefined) return next(args);
      faults.calls.push(call);
      const name = `${service}:${context.commandName}:${call.seq}/${call.sub ?? ''}`;
      const attempt = (faults.counter.get(name) ?? 0) + 1;
      faults.counter.set(name, attempt);
      const roll = unit(`${SEED}:${faults.invocation}:${name}:${attempt}`);
      const fail = () => {
        faults.faulted.add(call.seq);
        return Object.assign(new Error(`injected fault in ${name}`), {
          name: service === 's3' ? 'SlowDown' : 'ProvisionedThroughputExceededException',
          $metadata: { httpStatusCode: service === 's3' ? 503 : 400 },
        });
      };
      if (roll < faults.rate / 2) throw fail();
      const result = await next(args);
      if (context.commandName === 'PutItemCommand') {
        const item = args.input.Item as Record<string, AttributeValue>;
        writes.push({ identity: item.identity!.S!, version: item.projectionVersion!.N! });
      }
      if (roll < faults.rate) throw fail();
      return result;
    }) as never;

beforeAll(async () => {
  dynamoEmulator = await startDynamoDb();
  s3Directory = mkdtempSync(join(tmpdir(), 'consumer-random-s3-'));
  s3Emulator = await startS3({ directory: s3Directory });
  dynamodb = new DynamoDBClient({
    ...clientConfig(dynamoEmulator.endpoint),
    ...DYNAMODB_CLIENT_SETTINGS,
    requestHandler: keepAliveHandler(),
  });
  dynamodb.middlewareStack.add(inject('dynamodb'), { step: 'initialize', name: 'injectFaults' });
  reader = new DynamoDBClient({
    ...clientConfig(dynamoEmulator.endpoint),
    requestHandler: keepAliveHandler(),
  });
  s3 = new S3Client({
    ...clientConfig(s3Emulator.endpoint),
    forcePathStyle: true,
    requestHandler: keepAliveHandler(),
  });
  s3.middlewareStack.add(inject('s3'), { step: 'initialize', name: 'injectFaults' });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  claimCheck = new S3ClaimCheck({ client: s3, bucket: BUCKET, prefix: 'claim-check/' });
  await createTable(reader, 'events', [['identity', 'HASH']]);
});

afterAll(async () => {
  dynamodb?.destroy();
  reader?.destroy();
  s3?.destroy();
  await dynamoEmulator?.close();
  await s3Emulator?.close();
  if (s3Directory) rmSync(s3Directory, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------------------------
// The consumer, and the event source mapping around it.

/** Runs the store's and the quarantine's requests with the record they belong to, for the faults. */
const consumerDeps = (projectionVersion: number) => {
  const store = new DynamoDbEventStore({
    client: dynamodb,
    tableName: 'events',
    projectionVersion,
    claimCheck,
    claimCheckThresholdBytes: THRESHOLD,
  });
  const quarantine = new S3Quarantine({ client: s3, bucket: BUCKET, prefix: 'quarantine/' });
  const tracedStore: EventStore = {
    projectionVersion,
    put: (event) =>
      current.run({ seq: event.position.sequenceNumber, sub: event.position.subSequenceNumber }, () =>
        store.put(event),
      ),
  };
  const tracedQuarantine: Quarantine = {
    put: (entry) =>
      current.run({ seq: entry.sequenceNumber, sub: entry.subSequenceNumber }, () => quarantine.put(entry)),
  };
  return { store: tracedStore, quarantine: tracedQuarantine };
};

/** The records that share a key (outer, or a user record's) are one sequence: the test's own grouping. */
const groupsOf = (batch: Planned[]): Planned[][] => {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    while (parent.get(k) !== k) k = parent.get(k)!;
    return k;
  };
  for (const p of batch) {
    const keys = [p.record.partitionKey, ...p.users.filter((u) => u.sub !== undefined).map((u) => u.key)];
    for (const k of keys) if (!parent.has(k)) parent.set(k, k);
    for (const k of keys.slice(1)) parent.set(find(k), find(keys[0]!));
  }
  const groups = new Map<string, Planned[]>();
  for (const p of batch) {
    const root = find(p.record.partitionKey);
    groups.set(root, [...(groups.get(root) ?? []), p]);
  }
  return [...groups.values()];
};

const bySeq = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

interface Run {
  version: number;
  rnd: () => number;
  invocations: number;
  fullFailures: number;
  partials: number;
}

/** One invocation, checked against what the faults it met say the answer must be. */
const invoke = async (run: Run, batch: Planned[]): Promise<ConsumerReport | 'full-failure'> => {
  run.invocations += 1;
  faults.invocation += 1;
  faults.rate = run.rnd() < 0.4 ? 0 : run.rnd() * 0.5;
  faults.faulted = new Set();
  faults.calls = [];
  faults.counter = new Map();
  const metrics = metricsRecorder();
  let report: ConsumerReport | 'full-failure';
  try {
    report = await processRecords(
      batch.map((p) => p.record),
      {
        ...consumerDeps(run.version),
        processor: new KeyOrderedBatchProcessor({ keyConcurrency: 3 }),
        logger: silentLogger(),
        metrics,
      },
    );
  } catch (error) {
    if (!(error instanceof FullBatchFailureError)) throw error;
    report = 'full-failure';
  }
  // Per key: in sequence order, up to and including the first record that met a fault, and nothing after it.
  const expectedFailures: string[] = [];
  for (const group of groupsOf(batch)) {
    const seqs = group.map((p) => p.record.sequenceNumber).sort(bySeq);
    const first = seqs.findIndex((s) => faults.faulted.has(s));
    const attempted = first === -1 ? seqs : seqs.slice(0, first + 1);
    if (first !== -1) expectedFailures.push(...seqs.slice(first));
    const calls = faults.calls.filter((c) => seqs.includes(c.seq));
    const order = calls.map((c) => `${c.seq.padStart(60, '0')}/${String(c.sub ?? 0).padStart(6, '0')}`);
    expect(order, `records of one key in sequence order (invocation ${faults.invocation})`).toEqual(
      [...order].sort(),
    );
    expect(
      new Set(calls.map((c) => c.seq)),
      'every record up to the first failure attempted, none after',
    ).toEqual(new Set(attempted));
  }
  expectedFailures.sort(bySeq);
  if (expectedFailures.length === batch.length) {
    expect(report, `invocation ${faults.invocation} fails whole`).toBe('full-failure');
    run.fullFailures += 1;
  } else {
    expect(report === 'full-failure' ? report : report.batchItemFailures).toEqual(
      expectedFailures.map((itemIdentifier) => ({ itemIdentifier })),
    );
    if (expectedFailures.length > 0) run.partials += 1;
  }
  return report;
};

/** Delivers a batch until all of it succeeded: from the lowest failed record on, or in halves after a full failure. */
const deliver = async (run: Run, batch: Planned[]): Promise<void> => {
  let pending = batch;
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const report = await invoke(run, pending);
    if (report === 'full-failure') {
      if (pending.length === 1) continue;
      const middle = Math.ceil(pending.length / 2);
      await deliver(run, pending.slice(0, middle));
      await deliver(run, pending.slice(middle));
      return;
    }
    if (report.batchItemFailures.length === 0) return;
    const from = report.batchItemFailures[0]!.itemIdentifier;
    pending = pending.slice(pending.findIndex((p) => p.record.sequenceNumber === from));
  }
  throw new Error('a batch never succeeded');
};

/** Reads a shard window in random batches, as the event source mapping or a reprocess does. */
const readWindow = async (run: Run, window: Planned[], check?: (upTo: number) => Promise<void>) => {
  for (let at = 0; at < window.length; ) {
    const size = 1 + Math.floor(run.rnd() * (run.rnd() < 0.3 ? 4 : 30));
    await deliver(run, window.slice(at, at + size));
    at += size;
    await check?.(Math.min(at, window.length));
  }
};

// ---------------------------------------------------------------------------------------------------------------
// What the table and the bucket must hold.

const scanTable = async () => {
  const items: Array<Record<string, AttributeValue>> = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await reader.send(
      new ScanCommand({ TableName: 'events', ConsistentRead: true, ExclusiveStartKey: start }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return new Map(items.map((item) => [item.identity!.S!, item]));
};

const listKeys = async (prefix: string) => {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
};

const readObject = async (key: string) => {
  const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  return object.Body!.transformToString();
};

/** The first copy of each identity on the stream, and the quarantine's keys, for the records delivered. */
const expectationsOf = (delivered: Planned[]) => {
  const firsts = new Map<string, { plan: UserPlan; seq: string; sub?: number }>();
  const quarantined = new Map<string, string>();
  for (const p of delivered) {
    for (const u of p.users) {
      const seq = p.record.sequenceNumber;
      if (u.expected.store) {
        if (!firsts.has(u.expected.identity)) firsts.set(u.expected.identity, { plan: u, seq, sub: u.sub });
      } else {
        quarantined.set(
          `quarantine/${SHARD_ID}/${seq}${u.sub === undefined ? '' : `-${u.sub}`}.json`,
          u.expected.reason,
        );
      }
    }
  }
  return { firsts, quarantined };
};

const checkStore = async (delivered: Planned[], version: number, options: { deep?: boolean } = {}) => {
  const { firsts, quarantined } = expectationsOf(delivered);
  const items = await scanTable();
  expect([...items.keys()].sort(), 'one item per identity delivered, and no other').toEqual(
    [...firsts.keys()].sort(),
  );
  for (const [identity, { plan, seq, sub }] of firsts) {
    const item = items.get(identity)!;
    const expected = plan.expected as Extract<Expected, { store: true }>;
    expect(item.projectionVersion?.N, identity).toBe(String(version));
    expect(item.kind?.S).toBe(expected.kind);
    expect(item.stream?.M?.sequenceNumber?.S, `${identity} keeps the first copy`).toBe(seq);
    expect(item.stream?.M?.subSequenceNumber?.N).toBe(sub === undefined ? undefined : String(sub));
    expect(item.stream?.M?.partitionKey?.S).toBe(plan.key);
    expect(exactOfAttribute(item.attributes!)).toBe(
      exactOfAttribute({
        M: Object.fromEntries(Object.entries(expected.attributes).map(([k, v]) => [k, { S: v }])),
      }),
    );
    if (item.claimCheck) {
      const pointer = Object.fromEntries(
        Object.entries(item.claimCheck.M!).map(([k, v]) => [k, v.N === undefined ? v.S : Number(v.N)]),
      ) as unknown as ClaimPointer;
      expect(pointer.field).toBe(expected.binary ? 'data_base64' : 'data');
      if (options.deep) {
        const text = await readObject(pointer.key);
        expect(createHash('sha256').update(text).digest('hex')).toBe(pointer.sha256);
        expect(expected.binary ? text : exactOfText(text), `${identity}'s claimed data`).toBe(expected.data);
      }
    } else if (expected.binary) {
      expect(item.dataBase64?.S).toBe(expected.data);
    } else {
      expect(exactOfAttribute(item.data!), `${identity}'s data`).toBe(expected.data);
    }
  }
  const keys = await listKeys('quarantine/');
  expect(keys, 'the quarantine holds exactly the records that can never be stored').toEqual(
    [...quarantined.keys()].sort(),
  );
  if (options.deep) {
    for (const key of keys) {
      const document = JSON.parse(await readObject(key));
      expect(document.reason, key).toBe(quarantined.get(key));
    }
  }
  // Each identity written once at this version, whatever the faults and redeliveries.
  const counts = new Map<string, number>();
  for (const w of writes.filter((w) => w.version === String(version)))
    counts.set(w.identity, (counts.get(w.identity) ?? 0) + 1);
  expect(
    [...counts].filter(([, n]) => n !== 1),
    'identities written more than once',
  ).toEqual([]);
  expect(counts.size).toBe(firsts.size);
};

describe('Consumer: random batches with transient faults, redelivered until they succeed (dynalite, s3rver)', () => {
  it('stores each event once, keeps the first copy, quarantines exactly the unstorable, and answers with exactly the failed records', async () => {
    const rnd = seededRandom(SEED);
    const stream = generateStream(rnd);
    const run: Run = { version: 1, rnd, invocations: 0, fullFailures: 0, partials: 0 };

    // The stream read once, checked after every batch; now and then a window read again in other batches.
    await readWindow(run, stream, async (upTo) => {
      if (rnd() < 0.2) {
        const from = Math.floor(rnd() * upTo);
        const before = await scanTable();
        const count = writes.length;
        await readWindow(run, stream.slice(from, upTo));
        expect(writes.length, 'a replay writes nothing').toBe(count);
        expect(await scanTable()).toEqual(before);
      }
      await checkStore(stream.slice(0, upTo), 1);
    });
    await checkStore(stream, 1, { deep: true });

    // A projection version raise and a reprocess: each item rewritten once; a second reprocess writes nothing.
    run.version = 2;
    await readWindow(run, stream);
    await checkStore(stream, 2);
    const count = writes.length;
    const after = await scanTable();
    await readWindow(run, stream);
    expect(writes.length).toBe(count);
    // Older code beside the new: refused as stale, nothing written.
    run.version = 1;
    await readWindow(run, stream.slice(0, 60));
    expect(writes.length).toBe(count);
    expect(await scanTable()).toEqual(after);
    await checkStore(stream, 2, { deep: true });

    expect(run.partials).toBeGreaterThan(10);
    expect(run.fullFailures).toBeGreaterThan(3);
  });
});
