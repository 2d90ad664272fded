/** What every SDK v3 client has: `send(command)`. */
interface Sender {
  send(...args: never[]): unknown;
}

/**
 * A client whose SDK package is imported on its first `send`, not when the function's module loads.
 *
 * Loading an SDK client package is most of a cold start (tens of milliseconds each, measured by benchmark 5),
 * and some clients serve only a rare path: S3 for the quarantine and the claim check, Lambda for a reprocessing
 * job that goes on in a new invocation. Written here because the SDK has no lazy-loading option of its own.
 */
export const lazyClient = <C extends Sender>(create: () => Promise<C>): Pick<C, 'send'> => {
  let client: Promise<C> | undefined;
  const send = async (...args: never[]) => {
    client ??= create().catch((error: unknown) => {
      // A failed import or construction is retried on the next send rather than cached.
      client = undefined;
      throw error;
    });
    return (await client).send(...args);
  };
  return { send } as Pick<C, 'send'>;
};
