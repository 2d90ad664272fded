import { describe, expect, it, vi } from 'vitest';
import { lazyClient } from '#shared/clients/lazy.ts';

const fakeClient = (name: string) => ({ send: vi.fn(async (command: string) => `${name}:${command}`) });

describe('lazyClient: an SDK client made on its first send', () => {
  it('makes nothing until the first send, then one client for every send, concurrent ones included', async () => {
    // Prepare
    const client = fakeClient('c');
    const create = vi.fn(async () => client);
    const lazy = lazyClient(create);

    // Act
    const before = create.mock.calls.length;
    const answers = await Promise.all([lazy.send('a' as never), lazy.send('b' as never)]);
    const later = await lazy.send('c' as never);

    // Assess
    expect(before).toBe(0);
    expect(create).toHaveBeenCalledTimes(1);
    expect(answers).toEqual(['c:a', 'c:b']);
    expect(later).toBe('c:c');
    expect(client.send).toHaveBeenCalledTimes(3);
  });

  it('passes a failure to load on to the caller and tries again on the next send', async () => {
    // Prepare
    const create = vi
      .fn<() => Promise<ReturnType<typeof fakeClient>>>()
      .mockRejectedValueOnce(new Error('Cannot find package'))
      .mockResolvedValueOnce(fakeClient('second'));
    const lazy = lazyClient(create);

    // Act
    const first = lazy.send('x' as never);
    await expect(first).rejects.toThrow('Cannot find package');
    const second = await lazy.send('y' as never);

    // Assess
    expect(second).toBe('second:y');
    expect(create).toHaveBeenCalledTimes(2);
  });
});
