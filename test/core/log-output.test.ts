// The log's output on real FIFOs: a reader that is gone ends logging without an error or a
// wait, a reader that stops reading costs bounded memory, and what was dropped is said.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogOutput } from '../../core/log-output.js';
import { tempDir } from '../helpers/stores.js';
import { waitFor } from '../helpers/service-process.js';

/** A FIFO opened at both ends without blocking; the test decides when the reader reads or goes away. */
function fifo(): { reader: number; writer: number } {
  const path = join(tempDir(), 'log.fifo');
  execFileSync('mkfifo', [path]);
  const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const writer = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  return { reader, writer };
}

function readAvailable(fd: number): string {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(65_536);
  for (;;) {
    try {
      const n = readSync(fd, buffer);
      if (n === 0) break;
      chunks.push(Buffer.from(buffer.subarray(0, n)));
    } catch {
      break; // EAGAIN: nothing more for now
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

describe('log output', () => {
  it('writes lines in order and drains', async () => {
    const { reader, writer } = fifo();
    const output = new LogOutput(writer);
    for (let i = 0; i < 100; i++) output.write(`line ${i}\n`);
    await output.drain(5000);
    expect(readAvailable(reader).split('\n').filter(Boolean)).toEqual(Array.from({ length: 100 }, (_, i) => `line ${i}`));
    closeSync(reader);
    closeSync(writer);
  });

  it('stops for good at EPIPE when the reader is gone: no throw, no wait, nothing kept', async () => {
    const { reader, writer } = fifo();
    const broken: string[] = [];
    const output = new LogOutput(writer, { onBroken: (code) => broken.push(code) });
    closeSync(reader);
    output.write('first line after the reader left\n');
    output.write('second line\n');
    await waitFor(() => output.brokenBy !== undefined, 5000, 'the write to fail');
    expect(output.brokenBy).toBe('EPIPE');
    expect(broken).toEqual(['EPIPE']);
    output.write('ignored\n');
    const startedAt = Date.now();
    await output.drain(10_000);
    expect(Date.now() - startedAt).toBeLessThan(1000);
    closeSync(writer);
  });

  it('keeps a bounded queue while the reader does not read, and says how many lines it dropped', async () => {
    const { reader, writer } = fifo();
    const output = new LogOutput(writer, { maxQueuedBytes: 200_000 });
    const line = `${'x'.repeat(99)}\n`;
    // Far more than the pipe (64 KiB) and the queue (200 kB) hold together.
    for (let i = 0; i < 5000; i++) output.write(line);
    expect(output.dropped).toBeGreaterThan(0);
    // A drain gives up at its deadline: a stalled reader never holds a stopping service.
    const startedAt = Date.now();
    await output.drain(300);
    expect(Date.now() - startedAt).toBeLessThan(2000);

    // The reader catches up: every line arrives whole or is counted in the note.
    let received = '';
    const tally = () => {
      const lines = received.split('\n').filter(Boolean);
      const note = lines.find((l) => l.includes("log lines dropped: the log's reader could not keep up"));
      const dropped = note ? Number(/"msg":"(\d+) log lines dropped/.exec(note)![1]) : 0;
      return { whole: lines.filter((l) => l === line.trim()).length, dropped, other: lines.filter((l) => l !== line.trim() && l !== note) };
    };
    await waitFor(
      () => {
        received += readAvailable(reader);
        const { whole, dropped } = tally();
        return dropped > 0 && whole + dropped === 5000;
      },
      10_000,
      'every line delivered or counted',
    );
    expect(tally().other).toEqual([]);
    closeSync(reader);
    closeSync(writer);
  });
});
