import { describe, expect, it } from 'vitest';
import {
  codePointLength,
  identityOf,
  partitionKeyOf,
  validateCloudEvent,
} from '#shared/events/cloudevent.ts';

const valid = { specversion: '1.0', id: 'e-1', source: 'urn:shop', type: 'order.created' };

describe('CloudEvents contract', () => {
  it('accepts a minimal event', () => {
    expect(validateCloudEvent(valid, 0)).toEqual([]);
  });

  it.each([
    [{ ...valid, specversion: '0.3' }, 'specversion'],
    [{ ...valid, id: '' }, 'id'],
    [{ ...valid, source: 7 }, 'source'],
    [{ ...valid, time: '2026-13-01T00:00:00Z' }, 'time'],
    [{ ...valid, time: '2026-02-30T00:00:00Z' }, 'time'],
    [{ ...valid, data: 1, data_base64: 'AA==' }, 'data_base64'],
    [{ ...valid, data_base64: 'not base64!' }, 'data_base64'],
    [{ ...valid, datacontenttype: 'json' }, 'datacontenttype'],
    [{ ...valid, partitionkey: 'x'.repeat(257) }, 'partitionkey'],
    [{ ...valid, partitionkey: '' }, 'partitionkey'],
    [{ ...valid, subject: 's'.repeat(300) }, 'subject'],
    [{ ...valid, Bad_Name: 'x' }, 'Bad_Name'],
    [{ ...valid, ext: { nested: true } }, 'ext'],
  ])('rejects %j on field %s', (event, field) => {
    // Act
    const errors = validateCloudEvent(event, 3);
    // Assess
    expect(errors.map((e) => e.field)).toContain(field);
    expect(errors.every((e) => e.index === 3)).toBe(true);
  });

  it('names every missing required attribute at once', () => {
    expect(validateCloudEvent({}, 0).map((e) => e.field)).toEqual(['specversion', 'id', 'source', 'type']);
  });

  it('takes the partition key from partitionkey, then subject, then source', () => {
    expect(partitionKeyOf({ ...valid, partitionkey: 'p', subject: 's' })).toBe('p');
    expect(partitionKeyOf({ ...valid, subject: 's' })).toBe('s');
    expect(partitionKeyOf(valid)).toBe('urn:shop');
  });

  it('counts partition-key length in Unicode characters, not UTF-16 units', () => {
    const emoji = '😀'.repeat(256);
    expect(codePointLength(emoji)).toBe(256);
    expect(validateCloudEvent({ ...valid, partitionkey: emoji }, 0)).toEqual([]);
  });

  it('gives distinct identities to (source, id) pairs that concatenate alike', () => {
    expect(identityOf({ source: 'a:b', id: 'c' })).not.toBe(identityOf({ source: 'a', id: 'b:c' }));
  });
});
