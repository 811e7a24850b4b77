// `demo`: the whole flow on this machine against local sandboxes.
import type { Command } from 'commander';
import { DEMO_LIMITS, runDemo } from '../demo.js';
import { wholeNumber } from './shared.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the whole flow on this machine: local sandboxes for WhatsApp and two CRMs, simulated customers, a summary')
    .option('--customers <n>', `simulated customers (${DEMO_LIMITS.customers.min}-${DEMO_LIMITS.customers.max})`, wholeNumber(DEMO_LIMITS.customers), 12)
    .option('--messages <n>', `messages per customer, plus a burst of 20 from one (${DEMO_LIMITS.messagesPerCustomer.min}-${DEMO_LIMITS.messagesPerCustomer.max})`, wholeNumber(DEMO_LIMITS.messagesPerCustomer), 6)
    .option('--data-dir <path>', 'where the demo store, media and log go: a new or empty folder, or one an earlier demo made (emptied first)', './data/demo')
    .action(async (options: { customers: number; messages: number; dataDir: string }) => {
      const summary = await runDemo({ customers: options.customers, messagesPerCustomer: options.messages, dataDir: options.dataDir, print: (line) => console.log(line) });
      if (summary.dead > 0) process.exitCode = 1;
      // The sandboxes' keep-alive sockets must not hold the process open.
      setTimeout(() => process.exit(), 200).unref();
    });
}
