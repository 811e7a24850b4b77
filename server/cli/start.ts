// the service: `start`, stopped gracefully on SIGTERM or SIGINT.
import type { Command } from 'commander';
import { ConfigError, errorMessage } from '../../core/errors.js';
import { Service } from '../service.js';
import { configOption, configPath } from './shared.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the service: webhooks, processing and dispatch')
    .addOption(configOption())
    .option('-p, --port <port>', 'listen on this port instead of server.port', (v) => Number.parseInt(v, 10))
    .action(async (options: { config?: string; port?: number }) => {
      // A console or warning write to a stdout/stderr whose reader is gone fails with EPIPE;
      // unheard, that error would crash the process mid-shutdown, before leases are handed back.
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
      let service: Service;
      try {
        service = await Service.start({ configPath: configPath(options), ...(options.port === undefined ? {} : { port: options.port }) });
      } catch (error) {
        // Whatever failed (the config, the store, the port), a supervisor must see a failed start:
        // exit at once, non-zero, rather than linger on a handle that a half-start left open.
        console.error(error instanceof ConfigError ? error.message : `wa-crm-sync: ${errorMessage(error)}`);
        process.exit(1);
      }
      process.on('SIGHUP', () => void service.reload());
      const shutdown = (signal: string) => {
        const timeoutMs = service.config.server.shutdownTimeoutMs;
        service.log.info({ signal, timeoutMs }, 'shutting down');
        // The last resort, should a step hang anyway: leases then expire after outbox.leaseMs.
        setTimeout(() => {
          service.log.error({ timeoutMs }, 'shutdown did not finish within server.shutdownTimeoutMs; exiting anyway');
          process.exit(1);
        }, timeoutMs).unref();
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            service.log.error({ err: errorMessage(error) }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => shutdown('SIGTERM'));
      process.once('SIGINT', () => shutdown('SIGINT'));
    });
}
