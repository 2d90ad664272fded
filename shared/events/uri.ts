/**
 * RFC 3986 syntax, for the CloudEvents attributes typed URI-reference (`source`) and URI (`dataschema`).
 *
 * Written by hand: none of the project's libraries checks URI syntax (the WHATWG URL parser Node has is not
 * RFC 3986: it takes spaces and non-ASCII text, and it refuses relative references). The expressions follow the
 * ABNF of RFC 3986 Appendix A, except that an IP literal's address (`[::1]`) is checked by its characters only.
 * Path segments are split by `/`, which no segment holds, so the expressions never backtrack far.
 */

/** unreserved and sub-delims: the characters every part takes as they are. */
const PLAIN = "A-Za-z0-9\\-._~!$&'()*+,;=";
const PCT_ENCODED = '%[0-9A-Fa-f]{2}';
const PCHAR = `(?:[${PLAIN}:@]|${PCT_ENCODED})`;
const SEGMENT = `${PCHAR}*`;
/** The first segment of a relative path: no colon, or it would read as a scheme. */
const SEGMENT_NZ_NC = `(?:[${PLAIN}@]|${PCT_ENCODED})+`;
const QUERY_OR_FRAGMENT = `(?:[${PLAIN}:@/?]|${PCT_ENCODED})*`;
const SCHEME = '[A-Za-z][A-Za-z0-9+.\\-]*';
const USERINFO = `(?:[${PLAIN}:]|${PCT_ENCODED})*`;
/** Up to its first colon with no colon in it, so that a long run of colons is read once, not tried at each one. */
const IP_LITERAL = `\\[(?:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*|[Vv][0-9A-Fa-f]+\\.[${PLAIN}:]+)\\]`;
const REG_NAME = `(?:[${PLAIN}]|${PCT_ENCODED})*`;
const AUTHORITY = `(?:${USERINFO}@)?(?:${IP_LITERAL}|${REG_NAME})(?::[0-9]*)?`;
const PATH_ABEMPTY = `(?:/${SEGMENT})*`;
const PATH_ABSOLUTE = `/(?:${PCHAR}+(?:/${SEGMENT})*)?`;
const TAIL = `(?:\\?${QUERY_OR_FRAGMENT})?(?:#${QUERY_OR_FRAGMENT})?`;

/** hier-part: an authority and its path, an absolute path, a rootless path, or nothing. */
const HIER_PART = `(?://${AUTHORITY}${PATH_ABEMPTY}|${PATH_ABSOLUTE}|${PCHAR}+(?:/${SEGMENT})*|)`;
/** relative-part: as hier-part, with no colon in a rootless path's first segment. */
const RELATIVE_PART = `(?://${AUTHORITY}${PATH_ABEMPTY}|${PATH_ABSOLUTE}|${SEGMENT_NZ_NC}(?:/${SEGMENT})*|)`;

const URI = new RegExp(`^${SCHEME}:${HIER_PART}${TAIL}$`);
const RELATIVE_REF = new RegExp(`^${RELATIVE_PART}${TAIL}$`);

/** RFC 3986 §3 URI: a scheme, then the rest (`https://example.com/a`, `urn:shop`, `mailto:a@example.com`). */
export const isUri = (value: string): boolean => URI.test(value);

/** RFC 3986 §4.1 URI-reference: a URI, or a relative reference (`/orders`, `orders`, `//host/a`, `?q`). */
export const isUriReference = (value: string): boolean => URI.test(value) || RELATIVE_REF.test(value);
