// Writes whose answer may be lost: the note a later attempt waits on (core/lost-answer.ts).
import { describe, expect, it } from 'vitest';
import { DeferredError, SyncError, TransportError } from '../../core/errors.js';
import { sendNoted, waitOutLateLanding, type LateLandingWrite } from '../../core/lost-answer.js';
import { testContext } from '../helpers/context.js';

const write: LateLandingWrite = { ref: 'upload-sent', localId: 'm1', windowMs: 1000, what: 'upload' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('lost answers', () => {
  it('a write in doubt is waited out for its whole window from when the caller stopped waiting, however long it waited to go out', async () => {
    const context = testContext();
    // The send waits 300 ms (for rate budget, say) before the request goes out, then no answer comes.
    await expect(
      sendNoted(context, [write], async () => {
        await sleep(300);
        throw new TransportError('no answer within 1000 ms');
      }),
    ).rejects.toThrow(TransportError);
    const failedAt = Date.now();
    await expect(waitOutLateLanding(context, write, failedAt + 900)).rejects.toThrow(DeferredError);
    await expect(waitOutLateLanding(context, write, failedAt + 1000)).resolves.toBeUndefined();
  });

  it('an answer, an error answer included, clears the note: nothing is left to land', async () => {
    const context = testContext();
    await expect(sendNoted(context, [write], async () => Promise.reject(new SyncError('refused', { status: 400 })))).rejects.toThrow('refused');
    await expect(waitOutLateLanding(context, write)).resolves.toBeUndefined();
    expect(await sendNoted(context, [write], async () => 'done')).toBe('done');
    await expect(waitOutLateLanding(context, write)).resolves.toBeUndefined();
  });

  it('a gateway timeout leaves the write in doubt', async () => {
    const context = testContext();
    await expect(sendNoted(context, [write], async () => Promise.reject(new SyncError('gateway', { status: 504 })))).rejects.toThrow('gateway');
    await expect(waitOutLateLanding(context, write)).rejects.toThrow(DeferredError);
  });

  it("a write still waiting for its answer in this process is not taken for a lost one: another batch writing the same record looks again within a second, not after the window", async () => {
    const context = testContext();
    const long: LateLandingWrite = { ...write, windowMs: 600_000 };
    let answer!: () => void;
    const sending = sendNoted(context, [long], () => new Promise<string>((resolve) => (answer = () => resolve('written'))));
    await sleep(10);
    const now = Date.now();
    const deferred = await waitOutLateLanding(context, long, now).catch((error: unknown) => error);
    expect(deferred).toBeInstanceOf(DeferredError);
    expect((deferred as DeferredError).untilMs).toBeLessThanOrEqual(now + 1000);
    answer();
    await expect(sending).resolves.toBe('written');
    await expect(waitOutLateLanding(context, long)).resolves.toBeUndefined();
    // Once nothing of it is under way here, a note left behind (a crash, a lost answer) is waited out whole.
    await context.setRef(long.ref, long.localId, String(now));
    await expect(waitOutLateLanding(context, long, now + 1000)).rejects.toThrow(DeferredError);
  });

  it("notes a batch's writes in one store write before its call and clears them in one after", async () => {
    const context = testContext();
    const writes = ['m1', 'm2', 'm3'].map((localId) => ({ ...write, localId }));
    await sendNoted(context, writes, async () => {
      expect(writes.every((w) => Number(context.refs.get(`${w.ref}:${w.localId}`)) > 0)).toBe(true);
    });
    expect(context.refWrites).toEqual([3, 3]);
    expect(writes.map((w) => context.refs.get(`${w.ref}:${w.localId}`))).toEqual(['0', '0', '0']);
  });
});
