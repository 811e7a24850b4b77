// The `wa-crm-sync` command line (bin/wa-crm-sync.js runs dist/server/cli.js): the commands are
// one file each under server/cli/.
export { buildCli, runCli } from './cli/index.js';
