// The end-to-end tests start bin/wa-crm-sync.js, which runs dist/: build it from the current sources first.
import { execFileSync } from 'node:child_process';
import { projectRoot } from './helpers/fixtures.js';

export default function setup(): void {
  execFileSync(process.execPath, [`${projectRoot}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'], { cwd: projectRoot, stdio: 'inherit' });
}
