// The container files, checked where no container runtime runs (here, and CI): the Dockerfile's
// stages, user and healthcheck, and compose.yaml's services, environment and volumes against the
// config schema and the files they name. deploy/build-steps.mjs runs the build stage itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { connectorSettingsSchemas } from '../../connectors/registry.js';
import { loadConfig } from '../../core/config/load.js';
import { stages } from '../../deploy/build-steps.mjs';
import { projectRoot } from '../helpers/fixtures.js';

const dockerfile = readFileSync(join(projectRoot, 'Dockerfile'), 'utf8');
const built = stages(dockerfile);
const compose = parseYaml(readFileSync(join(projectRoot, 'compose.yaml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string; build?: string; command?: string[]; profiles?: string[]; environment?: Record<string, string>; env_file?: Array<{ path: string }>; volumes?: string[]; depends_on?: Record<string, unknown>; networks?: Record<string, { ipv4_address?: string } | null>; stop_grace_period?: string; ports?: string[] }>;
  volumes: Record<string, unknown>;
  networks: Record<string, { ipam: { config: Array<{ subnet: string }> } }>;
};
/** Variables the files reference, each with or without a default. */
function referencedVariables(...files: string[]): Array<{ name: string; hasDefault: boolean }> {
  return files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)(:[-?][^}]*)?\}/g)].map((m) => ({ name: m[1]!, hasDefault: m[2]?.startsWith(':-') ?? false })));
}

/** A value for each variable without a default (the secrets .env must hold); the rest keep their defaults. */
function envFor(...files: string[]): Record<string, string> {
  return Object.fromEntries(referencedVariables(...files).filter((v) => !v.hasDefault).map((v) => [v.name, `value-of-${v.name.toLowerCase()}-0123456789`]));
}

describe('Dockerfile', () => {
  it('builds in one stage and runs from another with production dependencies, as a non-root user', () => {
    expect([...built.keys()]).toEqual(['build', 'runtime']);
    const runtime = built.get('runtime')!.steps;
    const user = runtime.filter((s) => s.keyword === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    // The user is set before the process starts, and after the last step that needs root.
    const userAt = runtime.findIndex((s) => s.keyword === 'USER');
    expect(runtime.findIndex((s) => s.keyword === 'ENTRYPOINT')).toBeGreaterThan(userAt);
    expect(runtime.slice(userAt).some((s) => s.keyword === 'RUN')).toBe(false);
    const buildRuns = built.get('build')!.steps.filter((s) => s.keyword === 'RUN').map((s) => s.args).join('\n');
    expect(buildRuns).toMatch(/npm ci/);
    expect(buildRuns).toMatch(/npm prune --omit=dev/);
  });

  it('checks health on /readyz or /healthz, and starts with the heap flags of the shipped launcher', () => {
    const health = built.get('runtime')!.steps.find((s) => s.keyword === 'HEALTHCHECK');
    expect(health?.args).toMatch(/\/(readyz|healthz)/);
    const entry = JSON.parse(built.get('runtime')!.steps.find((s) => s.keyword === 'ENTRYPOINT')!.args) as string[];
    const shebang = readFileSync(join(projectRoot, 'bin/wa-crm-sync.js'), 'utf8').split('\n')[0]!;
    for (const flag of entry.filter((a) => a.startsWith('--max'))) expect(shebang).toContain(flag);
    expect(entry).toContain('bin/wa-crm-sync.js');
  });

  it('gives the service the malloc arenas of the shipped launcher wherever it is started', () => {
    const shebang = readFileSync(join(projectRoot, 'bin/wa-crm-sync.js'), 'utf8').split('\n')[0]!;
    const arenas = /MALLOC_ARENA_MAX=(\d+)/.exec(shebang)?.[1];
    expect(arenas).toBeDefined();
    expect(built.get('runtime')!.steps.filter((s) => s.keyword === 'ENV').map((s) => s.args)).toContain(`MALLOC_ARENA_MAX=${arenas}`);
    expect(readFileSync(join(projectRoot, 'deploy/systemd/wa-crm-sync.service'), 'utf8')).toContain(`Environment=MALLOC_ARENA_MAX=${arenas}\n`);
    const scripts = (JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['start', 'demo']) expect(scripts[name]).toMatch(new RegExp(`^MALLOC_ARENA_MAX=${arenas} node `));
  });

  it('copies only files that exist, and the image config passes the schema', () => {
    for (const step of [...built.values()].flatMap((s) => s.steps).filter((s) => s.keyword === 'COPY' && !s.args.includes('--from'))) {
      const sources = step.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1);
      for (const source of sources) expect(existsSync(join(projectRoot, source)), `COPY ${source}`).toBe(true);
    }
    const imageConfig = join(projectRoot, 'deploy/docker/wa-crm-sync.yaml');
    const config = loadConfig(imageConfig, connectorSettingsSchemas, envFor(imageConfig));
    // Everything the service writes lies in the volume.
    expect(config.store.url).toBe('sqlite:/data/wa-crm-sync.sqlite');
    for (const dir of [config.whatsapp.media.dir, config.backup.dir]) expect(dir.startsWith('/data/')).toBe(true);
    expect(dockerfile).toMatch(/VOLUME \["\/data"\]/);
  });
});

describe('compose.yaml', () => {
  it('runs the service on SQLite by default, with its data in a named volume', () => {
    const single = compose.services['wa-crm-sync']!;
    expect(single.profiles).toBeUndefined();
    expect(single.build).toBe('.');
    expect(single.volumes).toContain('data:/data');
    expect(Object.keys(compose.volumes)).toContain('data');
    expect(single.ports).toContain('3000:3000');
    // Docker's stop timeout must leave the service its own shutdown time (server.shutdownTimeoutMs, 8 s).
    expect(Number.parseInt(single.stop_grace_period!, 10)).toBeGreaterThan(8);
  });

  it('has an "ha" profile: PostgreSQL, two instances, and a proxy whose address the instances trust', () => {
    const ha = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('ha')).map(([name]) => name).sort();
    expect(ha).toEqual(['postgres', 'proxy', 'wa-crm-sync-1', 'wa-crm-sync-2']);
    const configFile = join(projectRoot, 'deploy/docker/wa-crm-sync.postgres.yaml');
    const env = envFor(configFile);
    const config = loadConfig(configFile, connectorSettingsSchemas, env);
    expect(config.store.url).toMatch(/^postgres:\/\/wa_crm_sync:[^@]+@postgres:5432\/wa_crm_sync$/);
    const postgres = compose.services['postgres']!;
    expect(postgres.environment?.['POSTGRES_USER']).toBe('wa_crm_sync');
    expect(postgres.environment?.['POSTGRES_DB']).toBe('wa_crm_sync');
    for (const name of ['wa-crm-sync-1', 'wa-crm-sync-2']) {
      const instance = compose.services[name]!;
      const [, mounted] = /^(.+):\/config\/(.+):ro$/.exec(instance.volumes!.find((v) => v.includes('/config/'))!)!.slice(1);
      expect(instance.volumes!.find((v) => v.includes('/config/'))).toContain('./deploy/docker/wa-crm-sync.postgres.yaml');
      expect(instance.command).toEqual(['start', '--config', `/config/${mounted}`]);
      expect(instance.depends_on?.['postgres']).toEqual({ condition: 'service_healthy' });
    }
    const proxyAddress = compose.services['proxy']!.networks!['backend']!.ipv4_address!;
    expect(config.server.trustedProxies).toEqual([proxyAddress]);
    const caddyfile = readFileSync(join(projectRoot, 'deploy/docker/Caddyfile'), 'utf8');
    expect(caddyfile).toMatch(/reverse_proxy wa-crm-sync-1:3000 wa-crm-sync-2:3000/);
    expect(caddyfile).toMatch(/health_uri \/readyz/);
  });

  it('names in its files only variables .env.example documents, and every volume it mounts is declared', () => {
    const documented = new Set([...readFileSync(join(projectRoot, '.env.example'), 'utf8').matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    const used = referencedVariables(join(projectRoot, 'compose.yaml'), join(projectRoot, 'deploy/docker/wa-crm-sync.yaml'), join(projectRoot, 'deploy/docker/wa-crm-sync.postgres.yaml')).map((v) => v.name);
    expect(used.length).toBeGreaterThan(5);
    expect([...new Set(used)].filter((n) => !documented.has(n))).toEqual([]);
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) expect(existsSync(join(projectRoot, source)), source).toBe(true);
        else expect(Object.keys(compose.volumes), source).toContain(source);
      }
    }
  });
});

describe('systemd unit', () => {
  const unit = readFileSync(join(projectRoot, 'deploy/systemd/wa-crm-sync.service'), 'utf8');
  const setting = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(unit)?.[1];

  it('runs as its own user, hardened, and stops within the service shutdown time', () => {
    expect(setting('User')).toBe('wa-crm-sync');
    for (const [key, value] of Object.entries({ NoNewPrivileges: 'true', ProtectSystem: 'strict', ProtectHome: 'true', PrivateTmp: 'true', PrivateDevices: 'true', RestrictSUIDSGID: 'true', CapabilityBoundingSet: '' })) {
      expect(setting(key), key).toBe(value);
    }
    expect(setting('StateDirectory')).toBe('wa-crm-sync');
    expect(Number(setting('TimeoutStopSec'))).toBeGreaterThan(8);
    expect(setting('ExecStart')).toMatch(/bin\/wa-crm-sync\.js start --config \/etc\/wa-crm-sync\/wa-crm-sync\.yaml$/);
  });
});
