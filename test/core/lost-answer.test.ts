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
});
