import { describe, expect, it } from 'vitest';
import {
  acceptedPutRequest,
  MAX_EMULATOR_BODY_BYTES,
  MAX_RECORD_DATA_BYTES,
} from '#local/faults/put-records-faults.ts';

const entry = (fields: Record<string, unknown> = {}) => ({ PartitionKey: 'key', Data: 'AAAA', ...fields });
const putRecords = (fields: Record<string, unknown>) =>
  Buffer.from(JSON.stringify({ StreamName: 'stream', Records: [entry()], ...fields }));

describe('Local faults: which PutRecords requests the emulator takes', () => {
  it('takes a well-formed request, with the stream, entries and their sizes', () => {
    // Prepare
    const body = putRecords({
      Records: [entry(), entry({ PartitionKey: 'ключ', Data: Buffer.from('hello').toString('base64') })],
    });
    // Act
    const accepted = acceptedPutRequest('PutRecords', body);
    // Assess
    expect(accepted?.streamName).toBe('stream');
    expect(accepted?.entries).toHaveLength(2);
    expect(accepted?.sizes).toEqual([3 + 3, 8 + 5]);
  });

  it.each([
    ['500 entries', { Records: Array.from({ length: 500 }, () => entry()) }],
    ['empty data', { Records: [entry({ Data: '' })] }],
    ['1 MiB of data', { Records: [entry({ Data: Buffer.alloc(MAX_RECORD_DATA_BYTES).toString('base64') })] }],
    ['a 256-character partition key', { Records: [entry({ PartitionKey: 'k'.repeat(256) })] }],
    ['the highest explicit hash key', { Records: [entry({ ExplicitHashKey: String(2n ** 128n - 1n) })] }],
    ['a null explicit hash key', { Records: [entry({ ExplicitHashKey: null })] }],
    [
      'fields Kinesis ignores',
      { StreamARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/stream', Extra: 1 },
    ],
  ])('takes %s', (_case, fields) => {
    // Act
    const accepted = acceptedPutRequest('PutRecords', putRecords(fields));
    // Assess
    expect(accepted).toBeDefined();
  });

  it.each([
    ['a body that is not JSON', Buffer.from('{"StreamName":')],
    ['a JSON list', Buffer.from('[]')],
    ['a JSON null', Buffer.from('null')],
    [
      'no stream name (an ARN alone)',
      putRecords({ StreamName: undefined, StreamARN: 'arn:aws:kinesis:::stream/s' }),
    ],
    ['an invalid stream name', putRecords({ StreamName: 'a stream' })],
    ['a stream name over 128 characters', putRecords({ StreamName: 's'.repeat(129) })],
    ['no records', putRecords({ Records: [] })],
    ['records that are not a list', putRecords({ Records: 'x' })],
    ['501 records', putRecords({ Records: Array.from({ length: 501 }, () => entry()) })],
    ['a null record', putRecords({ Records: [null] })],
    ['an empty partition key', putRecords({ Records: [entry({ PartitionKey: '' })] })],
    ['a 257-character partition key', putRecords({ Records: [entry({ PartitionKey: 'k'.repeat(257) })] })],
    ['a numeric partition key', putRecords({ Records: [entry({ PartitionKey: 5 })] })],
    ['no data', putRecords({ Records: [entry({ Data: undefined })] })],
    ['data that is not base64', putRecords({ Records: [entry({ Data: '!!!!' })] })],
    ['base64 of a length not a multiple of 4', putRecords({ Records: [entry({ Data: 'AAA' })] })],
    ['base64 that is not canonical', putRecords({ Records: [entry({ Data: 'AB==' })] })],
    [
      'more than 1 MiB of data',
      putRecords({ Records: [entry({ Data: Buffer.alloc(MAX_RECORD_DATA_BYTES + 1).toString('base64') })] }),
    ],
    [
      'an explicit hash key that is not a number',
      putRecords({ Records: [entry({ ExplicitHashKey: '0x1' })] }),
    ],
    [
      'an explicit hash key of 2^128',
      putRecords({ Records: [entry({ ExplicitHashKey: String(2n ** 128n) })] }),
    ],
    ['a numeric explicit hash key', putRecords({ Records: [entry({ ExplicitHashKey: 7 })] })],
    [
      'a body over the emulator limit',
      Buffer.concat([putRecords({}), Buffer.alloc(MAX_EMULATOR_BODY_BYTES, ' ')]),
    ],
  ])('refuses %s', (_case, body) => {
    // Act
    const accepted = acceptedPutRequest('PutRecords', body);
    // Assess
    expect(accepted).toBeUndefined();
  });

  it('takes a PutRecord as one entry and checks its SequenceNumberForOrdering', () => {
    // Prepare
    const body = (fields: Record<string, unknown>) =>
      Buffer.from(JSON.stringify({ StreamName: 's', ...entry(fields) }));
    // Act
    const plain = acceptedPutRequest('PutRecord', body({}));
    const ordered = acceptedPutRequest('PutRecord', body({ SequenceNumberForOrdering: '12' }));
    const badOrder = acceptedPutRequest('PutRecord', body({ SequenceNumberForOrdering: 'x' }));
    const noKey = acceptedPutRequest('PutRecord', body({ PartitionKey: undefined }));
    // Assess
    expect(plain?.entries).toEqual([{ StreamName: 's', PartitionKey: 'key', Data: 'AAAA' }]);
    expect(plain?.sizes).toEqual([6]);
    expect(ordered).toBeDefined();
    expect(badOrder).toBeUndefined();
    expect(noKey).toBeUndefined();
  });
});
