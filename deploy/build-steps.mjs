#!/usr/bin/env node
// Runs the Dockerfile's build stage outside a container, where no container runtime is at hand
// (CI, this repository's .ci/run): the files its COPY lines name are copied into an empty temp
// folder, its RUN lines run there (the OS-package line is skipped: it needs root and a Debian
// mirror, and only matters when no prebuilt better-sqlite3 fits), and the runtime stage's
// `COPY --from=build` sources are checked to exist. Then the pruned tree must start the CLI
// without dev dependencies. Exits non-zero, saying which step failed.
import { execSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');

/** Dockerfile instructions with continuation lines joined, comments dropped. */
export function instructions(text) {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

/** Instructions by stage name (FROM image AS name). */
export function stages(text) {
  const byName = new Map();
  let current;
  for (const instruction of instructions(text)) {
    if (instruction.keyword === 'FROM') {
      const name = / AS (\S+)$/i.exec(instruction.args)?.[1] ?? `stage${byName.size}`;
      current = { from: instruction.args.split(/\s+/)[0], steps: [] };
      byName.set(name, current);
    } else current?.steps.push(instruction);
  }
  return byName;
}

function main() {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const all = stages(dockerfile);
  const build = all.get('build');
  const runtime = all.get('runtime');
  if (!build || !runtime) throw new Error('Dockerfile: expected stages "build" and "runtime"');
  const work = mkdtempSync(join(tmpdir(), 'wa-crm-sync-build-'));
  console.log(`build stage in ${work}`);
  const started = Date.now();
  try {
    for (const step of build.steps) {
      if (step.keyword === 'COPY') {
        const parts = step.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        const dest = parts.pop();
        for (const source of parts) {
          if (!existsSync(join(root, source))) throw new Error(`COPY ${source}: no such file in the repository`);
          const target = dest.endsWith('/') || parts.length > 1 ? join(work, dest.replace(/^\.\//, ''), source.split('/').pop()) : join(work, dest.replace(/^\.\//, ''));
          cpSync(join(root, source), target, { recursive: true });
        }
      } else if (step.keyword === 'RUN') {
        if (/apt-get/.test(step.args)) {
          console.log(`skipped (OS packages): RUN ${step.args.slice(0, 60)}...`);
          continue;
        }
        console.log(`RUN ${step.args}`);
        execSync(step.args, { cwd: work, stdio: 'inherit', env: { ...process.env, NODE_ENV: '' } });
      }
    }
    for (const step of runtime.steps.filter((s) => s.keyword === 'COPY' && s.args.includes('--from=build'))) {
      const [source] = step.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      const path = join(work, source.replace(/^\/app\/?/, ''));
      if (!existsSync(path)) throw new Error(`runtime stage: COPY --from=build ${source} but the build stage made no such file`);
    }
    for (const dev of ['typescript', 'vitest']) {
      if (existsSync(join(work, 'node_modules', dev))) throw new Error(`npm prune left the dev dependency ${dev} in node_modules`);
    }
    const version = execSync('node bin/wa-crm-sync.js --version', { cwd: work, encoding: 'utf8' }).trim();
    console.log(`the pruned tree runs: wa-crm-sync ${version}`);
    console.log(`build steps took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    if (!keep) rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    main();
  } catch (error) {
    console.error(`build steps failed: ${error.message}`);
    process.exit(1);
  }
}
