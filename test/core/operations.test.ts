// Operations declared as data (core/operations.ts): payloads reach handlers parsed by their kind's
// schema, outcomes come back in order, one key stays in order after a failure, prerequisites wait.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidPayloadError, NotAttemptedError, VendorError } from '../../core/errors.js';
import { declareKind, MissingPrerequisiteError, OperationTable, requirePrerequisite, type DeclaredOperation } from '../../core/operations.js';
import { claimedOperation, testContext } from '../helpers/context.js';

const note = z.strictObject({ contactId: z.string(), text: z.string() });
type Note = z.infer<typeof note>;

/** A table whose `note.write` records what it wrote and fails on the texts it is told to. */
function notes(options: { failOn?: readonly string[]; batchSize?: number } = {}) {
  const written: Note[] = [];
  const table = new OperationTable([
    declareKind({
      kind: 'note.write',
      payload: note,
      ...(options.batchSize ? { batchSize: options.batchSize } : {}),
      rateBuckets: ['notes'],
      async handle(op: DeclaredOperation<Note>, context) {
        await context.throttle();
        if (options.failOn?.includes(op.payload.text)) throw new VendorError('fixture', 'down', { status: 503, retryable: true });
        written.push(op.payload);
        return { result: `note-${written.length}` };
      },
      reconcile: async (op) => (op.payload.text === 'landed' ? { ok: true, result: 'found' } : undefined),
    }),
  ]);
  return { table, written };
}

const op = (payload: Record<string, unknown>, orderingKey = 'contact:c1', kind = 'note.write') => claimedOperation('fixture', kind, payload, { orderingKey });

describe('operation table', () => {
  it('hands each handler its payload parsed and returns one outcome per operation, in order', async () => {
    const { table, written } = notes();
    const outcomes = await table.execute([op({ contactId: 'c1', text: 'a' }), op({ contactId: 'c1', text: 'b' })], testContext());
    expect(outcomes).toEqual([{ ok: true, result: 'note-1' }, { ok: true, result: 'note-2' }]);
    expect(written).toEqual([{ contactId: 'c1', text: 'a' }, { contactId: 'c1', text: 'b' }]);
  });

  it('a payload the schema refuses is dead with the reason, and the handler never sees it', async () => {
    const { table, written } = notes();
    const [outcome] = await table.execute([op({ contactId: 'c1', text: 7 })], testContext());
    expect(outcome).toMatchObject({ ok: false });
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(InvalidPayloadError);
    expect(error).toMatchObject({ retryable: false, message: 'note.write payload does not match its schema: text: Invalid input: expected string, received number' });
    expect(written).toEqual([]);
  });

  it('a kind nobody declared is dead, naming the declared ones', async () => {
    const [outcome] = await notes().table.execute([op({}, 'k', 'note.delete')], testContext());
    expect((outcome as { error: Error }).error).toMatchObject({ name: 'InvalidPayloadError', message: 'no operation kind note.delete is declared by this connector (declared: note.write)' });
  });

  it("after one of a key's operations fails, the rest of that key are not attempted; other keys go on", async () => {
    const { table, written } = notes({ failOn: ['b'] });
    const outcomes = await table.execute(
      [op({ contactId: 'c1', text: 'a' }), op({ contactId: 'c1', text: 'b' }), op({ contactId: 'c1', text: 'c' }), op({ contactId: 'c2', text: 'd' }, 'contact:c2')],
      testContext(),
    );
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, false, true]);
    expect((outcomes[1] as { error: Error }).error).toMatchObject({ status: 503, retryable: true });
    expect((outcomes[2] as { error: Error }).error).toBeInstanceOf(NotAttemptedError);
    expect(written.map((n) => n.text)).toEqual(['a', 'd']);
  });

  it('an invalid payload holds back the rest of its key too', async () => {
    const { table, written } = notes();
    const outcomes = await table.execute([op({ contactId: 'c1' }), op({ contactId: 'c1', text: 'after' })], testContext());
    expect((outcomes[0] as { error: Error }).error).toBeInstanceOf(InvalidPayloadError);
    expect((outcomes[1] as { error: Error }).error).toBeInstanceOf(NotAttemptedError);
    expect(written).toEqual([]);
  });

  it('a missing prerequisite is a retryable failure that says what is missing', async () => {
    const table = new OperationTable([
      declareKind({
        kind: 'comment.write',
        payload: z.object({ ticket: z.string().nullable() }),
        handle: async (o) => void requirePrerequisite(o.payload.ticket, "the thread's ticket"),
      }),
    ]);
    const [outcome] = await table.execute([op({ ticket: null }, 'k', 'comment.write')], testContext());
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(MissingPrerequisiteError);
    expect(error).toMatchObject({ retryable: true, message: "the thread's ticket is not there yet (its operation failed or is dead: replay it)" });
    expect(requirePrerequisite('t-1', 'a ticket')).toBe('t-1');
  });

  it("counts each request against the kind's rate buckets unless the handler names its own", async () => {
    const buckets: unknown[] = [];
    const context = { ...testContext(), throttle: async (_w?: number, bucket?: string | readonly string[]) => (buckets.push(bucket), { settle: async () => {} }) };
    await notes().table.execute([op({ contactId: 'c1', text: 'a' })], context);
    expect(buckets).toEqual([['notes']]);
  });

  it('batch kinds get every valid payload of a call at once; a wrong number of outcomes fails them all, retryably', async () => {
    const seen: string[][] = [];
    const batch = (answer: (n: number) => number) =>
      new OperationTable([
        declareKind({
          kind: 'note.write',
          payload: note,
          batchSize: 10,
          handleBatch: async (ops) => (seen.push(ops.map((o) => o.payload.text)), Array.from({ length: answer(ops.length) }, () => ({ ok: true as const }))),
        }),
      ]);
    const ops = [op({ contactId: 'c1', text: 'a' }, 'k1'), op({ contactId: 'c2', text: 2 }, 'k2'), op({ contactId: 'c3', text: 'c' }, 'k3')];
    const outcomes = await batch((n) => n).execute(ops, testContext());
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
    expect(seen).toEqual([['a', 'c']]);
    const short = await batch((n) => n - 1).execute(ops, testContext());
    expect(short.map((o) => (o.ok ? 'ok' : o.error.retryable))).toEqual([true, false, true]);
    expect(batch((n) => n).maxBatch).toEqual({ 'note.write': 10 });
  });

  it('reconciles by kind: a declared lookup decides, a kind without one (or an invalid payload) runs again', async () => {
    const { table } = notes();
    expect(await table.reconcile(op({ contactId: 'c1', text: 'landed' }), testContext())).toEqual({ ok: true, result: 'found' });
    expect(await table.reconcile(op({ contactId: 'c1', text: 'lost' }), testContext())).toBeUndefined();
    expect(await table.reconcile(op({ text: 3 }), testContext())).toBeUndefined();
    expect(await table.reconcile(op({}, 'k', 'note.delete'), testContext())).toBeUndefined();
  });

  it('refuses a kind declared twice and a batch size below 1, saying which', () => {
    const kind = (batchSize?: number) => declareKind({ kind: 'note.write', payload: note, ...(batchSize === undefined ? {} : { batchSize }), handle: async () => undefined });
    expect(() => new OperationTable([kind(), kind()])).toThrow('Expected each operation kind once, got `note.write` twice');
    expect(() => new OperationTable([kind(0)])).toThrow('Expected `batchSize` of note.write to be an integer >= 1, got 0');
    expect(new OperationTable([kind()]).maxBatch).toEqual({ 'note.write': 1 });
  });

  it("one call's heads of different keys run side by side; one key's run waits for each step", async () => {
    let running = 0;
    let most = 0;
    const table = new OperationTable([
      declareKind({
        kind: 'note.write',
        payload: note,
        async handle() {
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 20));
          running--;
        },
      }),
    ]);
    await table.execute([op({ contactId: 'c1', text: 'a' }, 'k1'), op({ contactId: 'c2', text: 'b' }, 'k2'), op({ contactId: 'c3', text: 'c' }, 'k3')], testContext());
    expect(most).toBe(3);
    most = 0;
    await table.execute([op({ contactId: 'c1', text: 'a' }, 'k1'), op({ contactId: 'c1', text: 'b' }, 'k1')], testContext());
    expect(most).toBe(1);
  });

  it("oneAtATime: one call's heads of different keys run one after another, in order; a failed key's rest are not attempted", async () => {
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    const table = new OperationTable([
      declareKind({
        kind: 'note.write',
        payload: note,
        oneAtATime: true,
        async handle(o: DeclaredOperation<Note>) {
          most = Math.max(most, ++running);
          seen.push(o.payload.text);
          await new Promise((resolve) => setTimeout(resolve, 20));
          running--;
          if (o.payload.text === 'fail') throw new VendorError('fixture', 'down', { status: 503, retryable: true });
        },
      }),
    ]);
    const outcomes = await table.execute(
      [op({ contactId: 'c1', text: 'a' }, 'k1'), op({ contactId: 'c2', text: 'fail' }, 'k2'), op({ contactId: 'c3', text: 'c' }, 'k3'), op({ contactId: 'c2', text: 'after' }, 'k2')],
      testContext(),
    );
    expect(most).toBe(1);
    expect(seen).toEqual(['a', 'fail', 'c']);
    expect(outcomes.map((o) => o.ok)).toEqual([true, false, true, false]);
    expect((outcomes[3] as { error: Error }).error).toBeInstanceOf(NotAttemptedError);
  });

  it('segmented: runs of several keys share one call per kind and wave, a record at most once per call, a failed segment stops its key', async () => {
    const calls: string[][] = [];
    const contact = z.strictObject({ contactId: z.string() });
    const table = new OperationTable(
      [
        declareKind({
          kind: 'contact.upsert',
          payload: contact,
          batchSize: 10,
          recordOf: (payload) => payload.contactId,
          handleBatch: async (ops) => (calls.push(ops.map((o) => `contact ${o.payload.contactId}`)), ops.map(() => ({ ok: true as const }))),
        }),
        declareKind({
          kind: 'note.write',
          payload: note,
          batchSize: 10,
          handleBatch: async (ops) => (calls.push(ops.map((o) => `note ${o.payload.text}`)), ops.map((o) => (o.payload.text === 'bad' ? { ok: false as const, error: new VendorError('fixture', 'no', { status: 400, retryable: false }) } : { ok: true as const }))),
        }),
      ],
      { segmented: { parallelCalls: 1 } },
    );
    const outcomes = await table.execute(
      [
        op({ contactId: 'c1' }, 'k1', 'contact.upsert'),
        op({ contactId: 'c1', text: 'bad' }, 'k1'),
        op({ contactId: 'c1' }, 'k1', 'contact.upsert'),
        op({ contactId: 'c2' }, 'k2', 'contact.upsert'),
        op({ contactId: 'c2', text: 'fine' }, 'k2'),
        op({ contactId: 'c2' }, 'k2', 'contact.upsert'),
      ],
      testContext(),
    );
    expect(calls).toEqual([['contact c1', 'contact c2'], ['note bad', 'note fine'], ['contact c2']]);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.name))).toEqual(['ok', 'VendorError', 'NotAttemptedError', 'ok', 'ok', 'ok']);
  });

  it("a batch kind sends nothing of a key after that key's invalid payload; other keys' go", async () => {
    const seen: string[] = [];
    const table = new OperationTable([
      declareKind({ kind: 'note.write', payload: note, batchSize: 10, handleBatch: async (ops) => (seen.push(...ops.map((o) => o.payload.text)), ops.map(() => ({ ok: true as const }))) }),
    ]);
    const outcomes = await table.execute([op({ contactId: 'c1', text: 1 }, 'k1'), op({ contactId: 'c1', text: 'after' }, 'k1'), op({ contactId: 'c2', text: 'other' }, 'k2')], testContext());
    expect(seen).toEqual(['other']);
    expect(outcomes.map((o) => (o.ok ? 'ok' : o.error.name))).toEqual(['InvalidPayloadError', 'NotAttemptedError', 'ok']);
  });
});
