import { describe, expect, it } from 'vitest';
import { isUri, isUriReference } from '#shared/events/uri.ts';

describe('RFC 3986 syntax', () => {
  it.each([
    'urn:shop',
    'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
    'https://example.com/orders',
    'https://user:pw@example.com:8443/a/b;c=d?x=1&y=%20#frag',
    'http://[::1]:8080/x',
    'http://[2001:db8::7]/',
    'http://[v1.fe80::a+en1]/',
    'mailto:orders@example.com',
    'file:///var/log',
    'a+b.c-d:rest',
    'tag:example.com,2026:orders',
  ])('takes the URI %s, as a URI and as a URI-reference', (value) => {
    expect(isUri(value)).toBe(true);
    expect(isUriReference(value)).toBe(true);
  });

  it.each([
    'orders',
    '/orders/eu',
    'my-app',
    '//example.com/orders',
    './a:b',
    '?only=query',
    '#fragment',
    '%41%42',
    "sub-delims!$&'()*+,;=",
    '',
  ])('takes the relative reference %j as a URI-reference, not as a URI', (value) => {
    expect(isUriReference(value)).toBe(true);
    expect(isUri(value)).toBe(false);
  });

  it.each([
    ['my source', 'a space'],
    ['orders/ünï', 'non-ASCII text'],
    ['a#b#c', 'a second #'],
    ['1a:b', 'a colon in the first segment of a relative path'],
    ['http://exa mple.com', 'a space in the host'],
    ['%zz', 'a % not followed by two hex digits'],
    ['a{b}', 'braces'],
    ['a\\b', 'a backslash'],
    ['a"b', 'a double quote'],
    ['http://[::1/x', 'an unclosed IP literal'],
    ['http://host:80a/', 'a port that is not digits'],
    ['a<b>', 'angle brackets'],
    ['line\nbreak', 'a line break'],
  ])('refuses %j (%s)', (value) => {
    expect(isUriReference(value)).toBe(false);
    expect(isUri(value)).toBe(false);
  });

  it('reads a long reference in time linear in its length', () => {
    // A reference that fails only at its end: an expression that backtracks would take far longer than this.
    const long = `https://example.com/${'a/'.repeat(50_000)}%`;
    expect(isUriReference(long)).toBe(false);
    expect(isUriReference(long.slice(0, -1))).toBe(true);
  });

  it('reads an unclosed IP literal of colons in time linear in its length', () => {
    // Prepare: 100,000 colons, which an expression trying the literal's one colon at each of them reads in seconds.
    const unclosed = `http://[${':'.repeat(100_000)}`;
    // Act
    const started = performance.now();
    const results = [isUri(unclosed), isUriReference(unclosed)];
    const elapsedMs = performance.now() - started;
    // Assess
    expect(results).toEqual([false, false]);
    expect(elapsedMs).toBeLessThan(500);
  });
});
