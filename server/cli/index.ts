// The `wa-crm-sync` command line: one file per command (or group of commands) in this folder,
// each registering itself on the program; what they share is in shared.ts.
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError, errorMessage } from '../../core/errors.js';
import { registerAlertsCommand } from './alerts.js';
import { registerAuditCommand } from './audit.js';
import { registerBackupCommand } from './backup.js';
import { registerConfigCommand } from './config.js';
import { registerDemoCommand } from './demo.js';
import { registerHistoryCommand } from './history.js';
import { registerPauseCommand } from './pause.js';
import { registerReplayCommand } from './replay.js';
import { registerScopesCommand } from './scopes.js';
import { registerSetupCommand } from './setup.js';
import { packageVersion } from './shared.js';
import { registerStartCommand } from './start.js';
import { registerStatusCommand } from './status.js';
import { registerTemplatesCommand } from './templates.js';
import { registerTokensCommand } from './tokens.js';
import { registerUsersCommand } from './users.js';

export function buildCli(): Command {
  const program = new Command('wa-crm-sync')
    .description('Sync WhatsApp Business conversations to your CRM and helpdesk')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError();
  // In the order `--help` lists them.
  for (const register of [
    registerStartCommand,
    registerConfigCommand,
    registerStatusCommand,
    registerPauseCommand,
    registerUsersCommand,
    registerTokensCommand,
    registerAuditCommand,
    registerBackupCommand,
    registerAlertsCommand,
    registerReplayCommand,
    registerScopesCommand,
    registerTemplatesCommand,
    registerHistoryCommand,
    registerSetupCommand,
    registerDemoCommand,
  ]) {
    register(program);
  }
  return program;
}

export async function runCli(argv: string[]): Promise<void> {
  try {
    // A .env file in the working directory fills in variables that are not set already (the
    // environment wins), read by Node's own parser: the same file works with Docker Compose.
    if (existsSync('.env')) process.loadEnvFile('.env');
    await buildCli().parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exitCode = 1;
      return;
    }
    console.error(`wa-crm-sync: ${errorMessage(error)}`);
    process.exitCode = 1;
  }
}
