// /metrics as Prometheus and Grafana read it, against the real service process: figures of this
// scrape, every state kept as a series, stock Node names, an optional token and address list;
// and the shipped rules and dashboard name only metrics the service exports.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addressAllowed } from '../../server/app.js';
import { projectRoot, textWebhook } from '../helpers/fixtures.js';
import { Recorder } from '../helpers/recorder.js';
import { baseConfig, freePort, ServiceProcess, waitFor, writeConfig } from '../helpers/service-process.js';
import { freshStoreUrl, tempDir } from '../helpers/stores.js';

const RULES = join(projectRoot, 'deploy/prometheus/rules.yaml');
const DASHBOARD = join(projectRoot, 'deploy/grafana/wa-crm-sync.json');
const TOKEN = 'metrics-token-0123456789';
/** Series Prometheus makes itself for every target, not the service. */
const PROMETHEUS_OWN = new Set(['up']);

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }> }>;
}

function rules(): RuleFile['groups'][number]['rules'] {
  return (parseYaml(readFileSync(RULES, 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);
}

function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ query: string }> } };
  return [...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)), ...dashboard.templating.list.map((v) => v.query.replace(/^label_values\((\w+),.*\)$/, '$1'))];
}

const PROMQL_WORDS = new Set(['by', 'without', 'and', 'or', 'unless', 'offset', 'bool', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/**
 * The metric names a PromQL expression selects: what is left once strings, label matchers, range
 * and grouping clauses are taken out, and that is not a function (followed by a bracket) or keyword.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (match[2] || PROMQL_WORDS.has(match[1]!.toLowerCase())) continue;
    names.add(match[1]!);
  }
  return [...names];
}

/** Names a scrape declares (# TYPE lines), histograms with their _bucket, _sum and _count series. */
function exportedNames(scrape: string): Set<string> {
  const names = new Set<string>();
  for (const [, name, type] of scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(name!);
    if (type === 'histogram' || type === 'summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

function promtool(): string | undefined {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return found.status === 0 ? 'promtool' : undefined;
}

describe('monitoring files', () => {
  it('the alert rules pass promtool, or where it is absent a structural check', () => {
    const tool = promtool();
    if (tool) {
      // Debian's package `prometheus` ships it; CI machines without it take the branch below.
      const out = execFileSync(tool, ['check', 'rules', RULES], { encoding: 'utf8' });
      expect(out).toMatch(/SUCCESS: \d+ rules found/);
    }
    const all = rules();
    expect(all.length).toBeGreaterThan(5);
    for (const rule of all) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^WaCrmSync[A-Za-z]+$/);
      expect(['critical', 'warning', 'info']).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.for ?? '1m', rule.alert).toMatch(/^\d+[smh]$/);
      let depth = 0;
      for (const ch of rule.expr) {
        depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
        expect(depth, rule.alert).toBeGreaterThanOrEqual(0);
      }
      expect(depth, `${rule.alert}: unbalanced brackets`).toBe(0);
      expect(metricNamesIn(rule.expr).length, rule.alert).toBeGreaterThan(0);
    }
  });

  it('reads metric names out of PromQL as Prometheus would', () => {
    expect(metricNamesIn('sum by (connector, le) (rate(wa_crm_sync_operation_seconds_bucket{job=~"$job", outcome="done"}[5m]))')).toEqual(['wa_crm_sync_operation_seconds_bucket']);
    expect(metricNamesIn('max by (connector) (a_total) / max by (connector) (b_max offset 1h) > 0.1 and on (x) up == 0')).toEqual(['a_total', 'b_max', 'up']);
  });

  it('the dashboard is Grafana JSON with a Prometheus query in every panel', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; panels: Array<{ title: string; targets: Array<{ expr: string }>; gridPos: object }> };
    expect(dashboard.uid).toBe('wa-crm-sync');
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      expect(panel.gridPos, panel.title).toBeDefined();
    }
  });

  it('matches scrapers against addresses and CIDR blocks, IPv4 seen through IPv6 included', () => {
    expect(addressAllowed('10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(addressAllowed('::ffff:10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(addressAllowed('11.1.2.3', ['10.0.0.0/8', '192.168.1.5'])).toBe(false);
    expect(addressAllowed('192.168.1.5', ['192.168.1.5'])).toBe(true);
    expect(addressAllowed('fd00::5', ['fd00::/8'])).toBe(true);
    expect(addressAllowed('not-an-ip', ['0.0.0.0/0'])).toBe(false);
  });
});

describe('/metrics on the running service', { timeout: 120_000 }, () => {
  const recorder = new Recorder();
  let service: ServiceProcess;
  let configPath: string;
  let config: Record<string, unknown>;
  const scrape = async (headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => fetch(`${service.baseUrl}/metrics`, { headers });
  const body = async () => (await scrape()).text();

  beforeAll(async () => {
    const dir = tempDir();
    const recorderUrl = await recorder.start();
    const port = await freePort();
    configPath = join(dir, 'wa-crm-sync.yaml');
    // The webhook connector is disabled: what it would send waits in the outbox, and ages.
    config = { ...baseConfig({ storeUrl: freshStoreUrl('sqlite').url, port, dir, recorderUrl, webhookEnabled: false }), metrics: { bearerToken: TOKEN } };
    writeConfig(configPath, config);
    service = new ServiceProcess(configPath, port);
    await service.start();
  });

  afterAll(async () => {
    await service.kill('SIGTERM');
    await recorder.stop();
  });

  it('keeps every state of every connector as a series, 0 included, and connector_up without a state label', async () => {
    const metrics = await body();
    for (const state of ['pending', 'in_flight', 'done', 'dead']) expect(metrics).toContain(`wa_crm_sync_outbox_operations{connector="webhook",state="${state}"} 0`);
    expect(metrics).toContain('wa_crm_sync_outbox_oldest_age_seconds{connector="webhook",state="pending"} 0');
    expect(metrics).toContain('wa_crm_sync_connector_up{connector="webhook"} 0');
    expect(metrics).toContain('wa_crm_sync_connector_state{connector="webhook",state="disabled"} 1');
    expect(metrics).toContain('wa_crm_sync_connector_state{connector="webhook",state="running"} 0');
  });

  it("shows the oldest operation's age in the same scrape that first counts it", async () => {
    await service.deliver(textWebhook({ from: '447700900555', id: 'wamid.metrics.1', timestamp: 1_760_000_000, body: 'x' }));
    let first = '';
    await waitFor(async () => {
      first = await body();
      return /wa_crm_sync_outbox_operations\{connector="webhook",state="pending"\} [1-9]/.test(first);
    }, 30_000, 'the operation to be counted');
    const age = Number(/wa_crm_sync_outbox_oldest_age_seconds\{connector="webhook",state="pending"\} (\S+)/.exec(first)?.[1]);
    expect(age).toBeGreaterThan(0);
  });

  it('uses the stock Node.js and process metric names', async () => {
    const metrics = await body();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds']) expect(metrics).toContain(`# TYPE ${name} `);
    expect(metrics).not.toContain('wa_crm_sync_process_');
    expect(metrics).not.toContain('wa_crm_sync_nodejs_');
  });

  it('every metric the alert rules and the dashboard name is one the service exports', async () => {
    const exported = exportedNames(await body());
    const referenced = new Set([...rules().flatMap((r) => metricNamesIn(r.expr)), ...dashboardExpressions().flatMap(metricNamesIn)]);
    expect(referenced.size).toBeGreaterThan(10);
    const unknown = [...referenced].filter((name) => !exported.has(name) && !PROMETHEUS_OWN.has(name));
    expect(unknown).toEqual([]);
  });

  it('asks for the bearer token when one is set, and refuses addresses outside metrics.allowIps', async () => {
    expect((await scrape({})).status).toBe(401);
    expect((await scrape({ authorization: 'Bearer wrong-token-0123456789' })).status).toBe(401);
    expect((await scrape()).status).toBe(200);
    // Read on every scrape: a saved config applies without a restart.
    writeConfig(configPath, { ...config, metrics: { bearerToken: TOKEN, allowIps: ['10.0.0.0/8'] } });
    await waitFor(async () => (await scrape()).status === 403, 30_000, 'the address list to apply');
    writeConfig(configPath, { ...config, metrics: { bearerToken: TOKEN, allowIps: ['127.0.0.0/8'] } });
    await waitFor(async () => (await scrape()).status === 200, 30_000, 'loopback to be allowed again');
  });
});
