import type { KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { AwsJson1_1Protocol, JsonShapeSerializer2 } from '@aws-sdk/core/protocols';
import { KeyedSha256 } from './keyed-sha256.ts';

/** Writes ASCII text as UTF-8 bytes, natively; base64 is ASCII, so the bytes are its characters. */
const encoder = new TextEncoder();

/** The serializer's buffer and write position: private in its types, so reached through this view. */
interface SerializerState {
  json: Uint8Array;
  i: number;
}

/**
 * The SDK's JSON serializer, writing blobs with Node's native base64 encoder, and starting each body in a buffer as
 * large as the one before.
 *
 * The SDK writes a blob's base64 one byte at a time in JavaScript (`JsonShapeSerializer2.writeBase64`, a protected
 * method of a public class, there to be overridden). Node's encoder does the same work about five times faster;
 * in a PutRecords of 500 events of 1 KiB, the SDK's loop was a sixth of the call's CPU (docs/performance.md). Every
 * other value, and the layout of the body, is the SDK's own: test/unit/kinesis-settings.test.ts checks that the
 * bytes are the same as the SDK's, so a version of the SDK that moves its buffer fails that test.
 */
export class NativeBase64JsonSerializer extends JsonShapeSerializer2 {
  /**
   * The SDK starts every body in a buffer of 2 KiB and doubles it as it fills: for a PutRecords of 500 events of
   * 1 KiB, nine new buffers and about 1 MiB copied between them. A client's bodies are mostly alike (the ingest
   * function writes each request's events in one call), so once a body is written the next buffer is made as large
   * at once, with the SDK's own `ensure`. A smaller body then leaves some of it unused, and starts the one after
   * small again. The body handed on is the SDK's, untouched.
   */
  override flush(): Uint8Array {
    const body = super.flush();
    if (typeof body?.byteLength === 'number' && body.byteLength > 0) this.ensure(body.byteLength);
    return body;
  }

  protected override writeBase64(data: Uint8Array): void {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    // Room for the text and its two quotes; `ensure` may replace the buffer, so it is read afterwards.
    this.ensure(text.length + 2);
    const state = this as unknown as SerializerState;
    const { json, i } = state;
    json[i] = 0x22;
    const { written } = encoder.encodeInto(text, json.subarray(i + 1));
    json[i + 1 + written] = 0x22;
    state.i = i + written + 2;
  }
}

/**
 * Kinesis's protocol (AWS JSON 1.1) with the serializer above; its settings, codec and deserializer are the SDK's.
 * Given to the client as `protocol`, it is built with the client's own protocol settings.
 */
export class KinesisJsonProtocol extends AwsJson1_1Protocol {
  constructor(settings: ConstructorParameters<typeof AwsJson1_1Protocol>[0]) {
    super(settings);
    this.serializer = new NativeBase64JsonSerializer(this.getPayloadCodec().settings);
  }
}

/**
 * The settings every Kinesis client of the project shares, for CPU per call:
 * - `protocol`: the SDK's protocol with blobs written by Node's base64 encoder (above).
 * - `cacheMiddleware`: the middleware stack is resolved once per command class, not at every call, as the SDK
 *   documents for clients whose stack does not change after their first call. Nothing here changes it; a client
 *   that needs middleware added later (tests do) is made without these settings.
 * - `sha256`: SigV4's hash with each HMAC key made once (keyed-sha256.ts).
 */
export const KINESIS_CLIENT_SETTINGS = {
  protocol: KinesisJsonProtocol,
  cacheMiddleware: true,
  sha256: KeyedSha256,
} as const satisfies KinesisClientConfig;
