// The admin API under /admin/api: authorised people and automation only. Every request carries
// an API token (`Authorization: Bearer wacs_…`) scoped to a role; every route names the role it
// needs; a refused call gets 401 or 403 and is written to the audit trail, like every change.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AccountError, SignInBusyError, SignInRefusedError, TwoStepSecretsError, authenticateToken, roleAllows, verifySignIn, type Role } from '../core/admin/accounts.js';
import { csrfMatches, openSession, revokeSession, sessionFor, type SessionLimits } from '../core/admin/sessions.js';
import type { AlertDraft, Alerts } from '../core/security/alerts.js';
import { EventWindow } from '../core/security/event-window.js';
import { newDeviceAlert, signInFailuresAlert } from '../core/security/signals.js';
import type { Logger } from '../core/logger.js';
import { alertRoutes } from './admin/alerts.js';
import { connectorRoutes } from './admin/connectors.js';
import type { DefineRoute, Locals } from './admin/route.js';
import { recordAudit, type AuditEntry, type AuditKey } from '../core/security/audit-trail.js';
import { RefusalAudit } from '../core/security/refusal-audit.js';
import type { Store } from '../core/store/store.js';
import type { ConnectorReadiness } from './readiness.js';
import type { ScopeReport, VendorRecordLink } from '../core/connector.js';
import { operationRoutes } from './admin/operations.js';
import { traceRoutes } from './admin/trace.js';
import { accessRoutes } from './admin/access.js';
import { auditTrailRoutes } from './admin/audit-trail.js';
import { meRoutes } from './admin/me.js';
import { overviewRoutes } from './admin/overview.js';

export interface AdminApiDependencies {
  readonly store: Store;
  readonly log: Logger;
  /** Session timeouts (admin.session in the config). */
  sessionLimits(): SessionLimits;
  /** How often the dashboard reloads itself (admin.dashboard.refreshSeconds); 0 for never. */
  dashboardRefreshSeconds(): number;
  /** The key that seals TOTP secrets in the store (WA_CRM_SYNC_SECRETS_KEY or admin.secretsKeyFile), if any. */
  secretsKey(): Promise<string | undefined>;
  /** Keys the audit trail's chain (kept outside the store). */
  readonly auditKey: AuditKey;
  /** Raises a security alert (sign-ins from new devices, bursts of failed sign-ins). */
  alert(draft: AlertDraft): void;
  /** Where alerts are acknowledged and resolved (audited there). */
  readonly alerts: Alerts;
  connectorStates(): ConnectorReadiness[];
  /** Addresses allowed to reach the admin API (exact IPs); empty allows every address. */
  allowIps(): readonly string[];
  /** A connector's pause state changed: its dispatch should look at it now. */
  pauseChanged(connector: string): void;
  /** A connector's words and link for one of its vendor refs (Connector.describeRecord); undefined for refs that are not records. */
  describeRecord(connector: string, kind: string, externalId: string): VendorRecordLink | undefined;
  /** Each running connector's latest scope check. */
  scopeReports(): Array<{ connector: string; at: number; ok: boolean; report: ScopeReport | null; reason?: string }>;
}


/** Every admin route and the least role that may call it: the contract the role tests walk through. */
export const ADMIN_ROUTES: ReadonlyArray<{ method: 'get' | 'post' | 'delete'; path: string; role: Role }> = [
  { method: 'get', path: '/me', role: 'viewer' },
  { method: 'post', path: '/me/password', role: 'viewer' },
  { method: 'get', path: '/status', role: 'viewer' },
  { method: 'get', path: '/activity', role: 'viewer' },
  { method: 'get', path: '/operations', role: 'viewer' },
  { method: 'get', path: '/alerts', role: 'viewer' },
  { method: 'post', path: '/alerts/:id/acknowledge', role: 'operator' },
  { method: 'post', path: '/alerts/:id/resolve', role: 'operator' },
  { method: 'get', path: '/scopes', role: 'viewer' },
  { method: 'get', path: '/history', role: 'viewer' },
  { method: 'get', path: '/connectors/health', role: 'viewer' },
  { method: 'post', path: '/connectors/:id/retry', role: 'operator' },
  { method: 'post', path: '/connectors/:id/pause', role: 'operator' },
  { method: 'post', path: '/connectors/:id/resume', role: 'operator' },
  { method: 'post', path: '/operations/replay', role: 'operator' },
  { method: 'get', path: '/operations/:id', role: 'viewer' },
  { method: 'post', path: '/operations/discard', role: 'operator' },
  { method: 'get', path: '/trace', role: 'viewer' },
  { method: 'get', path: '/charts', role: 'viewer' },
  { method: 'get', path: '/audit', role: 'admin' },
  { method: 'get', path: '/users', role: 'admin' },
  { method: 'get', path: '/tokens', role: 'admin' },
  { method: 'post', path: '/tokens', role: 'admin' },
  { method: 'delete', path: '/tokens/:id', role: 'admin' },
  { method: 'get', path: '/sessions', role: 'viewer' },
  { method: 'delete', path: '/sessions/:id', role: 'viewer' },
];

const COOKIE = 'wacs_session';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Sent by the dashboard's own timed reloads: they read, and are not a person's activity. */
const BACKGROUND_REFRESH = 'x-background-refresh';
/** Failed sign-ins from one address in the window: this many raise an alert... */
const SIGN_IN_BURST = { count: 10 } as const;
/** ...and this many refuse further attempts from it until the window has passed. */
const SIGN_IN_LIMIT = { failures: 20, windowMs: 10 * 60_000 } as const;
/** The window failed sign-ins are counted in: a burst alert is over once one passes without another. */
export const SIGN_IN_WINDOW_MS = SIGN_IN_LIMIT.windowMs;
/** Refusals of strangers (no credentials, address not allowed): one audit record per address and kind in this window. */
const REFUSAL_AUDIT = { windowMs: 60_000, maxKeys: 10_000 } as const;

/** The operator's to fix: the person only learns that sign-in is down, the log says why. */
function secretsUnavailable(deps: AdminApiDependencies, res: Response, error: TwoStepSecretsError): void {
  deps.log.error({ err: error.message }, 'sign-in unavailable');
  res.status(503).json({ error: 'sign-in is unavailable: the service cannot read the two-step secrets; an admin must fix its key (the service log says what is wrong)' });
}

function cookieValue(req: Request, name: string): string | undefined {
  for (const part of (req.get('cookie') ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/**
 * Sign-in and sign-out for people (`/admin/session`), then the API (`/admin/api`) for people
 * with a session cookie (changes need the X-CSRF-Token header) and automation with a token.
 */
export function adminRoutes(deps: AdminApiDependencies): express.Router {
  const router = express.Router();
  const failures = new EventWindow(SIGN_IN_LIMIT.windowMs);
  const audit = (entry: AuditEntry) => recordAudit(deps.store, deps.auditKey, deps.log, entry);
  const refusals = new RefusalAudit(REFUSAL_AUDIT, audit);
  // Repeats are written when their window ends, also when no further refusal comes to trigger it.
  setInterval(() => void refusals.flush(), REFUSAL_AUDIT.windowMs).unref();
  // The allowlist covers everything under /admin: the page, sign-in and the API.
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const allow = deps.allowIps();
    if (allow.length === 0 || allow.includes(req.ip ?? '')) return next();
    await refusals.refused({ actor: `ip:${req.ip}`, action: 'admin.refused', target: `${req.method} ${req.path}`, detail: { reason: 'address not in admin.allowIps' } });
    res.status(403).json({ error: 'this address may not use the admin pages or API (admin.allowIps)' });
  });
  // The page asks who it is signed in as, and for the CSRF token bound to that session: a second
  // tab, or the browser opened again while the cookie lives, needs no new sign-in. Another site
  // cannot read this answer (no CORS) and the cookie is SameSite=Strict.
  router.get('/session', async (req: Request, res: Response) => {
    res.setHeader('cache-control', 'no-store');
    const cookie = cookieValue(req, COOKIE);
    const found = cookie ? await sessionFor(deps.store, cookie, deps.sessionLimits(), Date.now(), false) : undefined;
    if (!found || !('session' in found)) return void res.status(401).json({ error: found ? found.expired : 'not signed in' });
    res.json({ user: found.session.user, role: found.session.role, csrfToken: found.session.csrfToken, refreshSeconds: deps.dashboardRefreshSeconds() });
  });
  router.post('/session', express.json({ limit: '4kb' }), async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { name?: unknown; password?: unknown; code?: unknown };
    const name = typeof body.name === 'string' ? body.name : '';
    const ip = req.ip ?? '';
    const now = Date.now();
    const recent = failures.recent(ip, now);
    if (recent.length >= SIGN_IN_LIMIT.failures) {
      const retryAfter = Math.ceil((recent[0]! + SIGN_IN_LIMIT.windowMs - now) / 1000);
      res.setHeader('retry-after', String(retryAfter));
      res.status(429).json({ error: `too many failed sign-ins from this address; try again in ${Math.ceil(retryAfter / 60)} minutes` });
      return;
    }
    // The address's slot is taken before the check, in the same turn as the count was read:
    // attempts sent together cannot all pass the limit while the first ones are still hashing.
    const seen = failures.add(ip, now);
    try {
      const user = await verifySignIn(deps.store, { name, password: typeof body.password === 'string' ? body.password : '', code: typeof body.code === 'string' ? body.code : '' }, await deps.secretsKey());
      failures.remove(ip, now);
      const device = req.get('user-agent') ?? 'unknown';
      const opened = await openSession(deps.store, { user: user.name, role: user.role, ip, device });
      await audit({ actor: `user:${user.name}`, action: 'signin.success', detail: { ip, newDevice: opened.newDevice, recoveryCode: user.usedRecoveryCode } });
      if (opened.newDevice) deps.alert(newDeviceAlert(user.name, ip, device));
      const maxAge = Math.floor(deps.sessionLimits().absoluteMs / 1000);
      res.setHeader('set-cookie', `${COOKIE}=${opened.cookie}; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=${maxAge}${req.secure ? '; Secure' : ''}`);
      res.json({ user: user.name, role: user.role, csrfToken: opened.session.csrfToken, refreshSeconds: deps.dashboardRefreshSeconds(), ...(user.usedRecoveryCode ? { warning: 'a recovery code was used; it will not work again' } : {}) });
    } catch (error) {
      if (!(error instanceof AccountError)) failures.remove(ip, now); // not the person's failure
      if (error instanceof SignInBusyError) {
        res.setHeader('retry-after', String(Math.ceil(error.retryAfterMs! / 1000)));
        res.status(503).json({ error: error.message });
        return;
      }
      if (error instanceof TwoStepSecretsError) {
        await audit({ actor: `ip:${ip}`, action: 'signin.unavailable', target: name.slice(0, 64), detail: { reason: error.message } });
        return secretsUnavailable(deps, res, error);
      }
      if (!(error instanceof AccountError)) throw error;
      const reason = error instanceof SignInRefusedError ? error.reason : error.message;
      await audit({ actor: `ip:${ip}`, action: 'signin.failure', target: name.slice(0, 64), detail: { reason, ...(error instanceof SignInRefusedError && error.lockedNow ? { locked: true } : {}) } });
      if (seen === SIGN_IN_BURST.count) deps.alert(signInFailuresAlert(ip, seen, SIGN_IN_LIMIT.windowMs / 1000));
      res.status(401).json({ error: error.message });
    }
  });
  router.post('/session/logout', async (req: Request, res: Response) => {
    const cookie = cookieValue(req, COOKIE);
    const found = cookie ? await sessionFor(deps.store, cookie, deps.sessionLimits()) : undefined;
    if (found && 'session' in found) {
      await revokeSession(deps.store, found.session.id, { user: found.session.user, anyUser: false });
      await audit({ actor: `user:${found.session.user}`, action: 'signout', target: found.session.id });
    }
    res.setHeader('set-cookie', `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0`);
    res.json({ signedOut: true });
  });
  router.use('/api', adminApi(deps, refusals));
  // The charting library, from node_modules through this origin: the page loads nothing from elsewhere.
  for (const [name, file] of Object.entries(CHART_LIBRARY)) {
    router.get(`/vendor/${name}`, (_req: Request, res: Response) => {
      pageHeaders(res);
      res.setHeader('cache-control', 'public, max-age=86400');
      res.sendFile(file);
    });
  }
  // The dashboard: its own static files, nothing from elsewhere, no inline script.
  router.use(express.static(DASHBOARD_DIR, { index: 'index.html', setHeaders: (res) => { pageHeaders(res); res.setHeader('cache-control', 'no-store'); } }));
  return router;
}

/** What every file of the console is sent with: the strict CSP (this origin only, no inline script or style). */
function pageHeaders(res: Response): void {
  res.setHeader('content-security-policy', "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
}

/** uPlot (https://github.com/leeoniya/uPlot): small, no dependencies, draws on a canvas and sets no inline style attributes. */
const requireFromHere = createRequire(import.meta.url);
const CHART_LIBRARY: Readonly<Record<string, string>> = {
  'uPlot.iife.min.js': requireFromHere.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': requireFromHere.resolve('uplot/dist/uPlot.min.css'),
};

/** server/dashboard in the project, whether this runs from server/ (tsx) or dist/server/. */
const DASHBOARD_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../server/dashboard/' : './dashboard/', import.meta.url));

export function adminApi(deps: AdminApiDependencies, refusals: RefusalAudit): express.Router {
  const router = express.Router();
  const audit = (entry: AuditEntry) => recordAudit(deps.store, deps.auditKey, deps.log, entry);

  router.use(async (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? await authenticateToken(deps.store, header.slice(7).trim()) : undefined;
    if (token) {
      res.locals.caller = { actor: `token:${token.name}`, role: token.role, tokenId: token.id };
      return next();
    }
    const cookie = cookieValue(req, COOKIE);
    const activity = !(req.method === 'GET' && req.get(BACKGROUND_REFRESH) === '1');
    const found = cookie ? await sessionFor(deps.store, cookie, deps.sessionLimits(), Date.now(), activity) : undefined;
    if (!found || !('session' in found)) {
      await refusals.refused({ actor: `ip:${req.ip}`, action: 'admin.unauthenticated', target: `${req.method} ${req.path}` });
      res.status(401).json({ error: found ? found.expired : 'sign in (POST /admin/session) or send an API token: Authorization: Bearer wacs_…' });
      return;
    }
    const { session } = found;
    // A cookie travels with any request the browser makes: changes must also prove they come from our page.
    if (UNSAFE.has(req.method) && !csrfMatches(session, req.get('x-csrf-token'))) {
      await audit({ actor: `user:${session.user}`, action: 'admin.csrf_refused', target: `${req.method} ${req.path}` });
      res.status(403).json({ error: 'missing or wrong X-CSRF-Token header (it comes with the sign-in answer)' });
      return;
    }
    res.locals.caller = { actor: `user:${session.user}`, role: session.role, user: session.user, session: session.id };
    next();
  });
  // Bodies are read only for callers who got through: a stranger's body is never parsed.
  router.use(express.json({ limit: '64kb' }));

  const allowed = (needed: Role) => async (req: Request, res: Response<unknown, Locals>, next: NextFunction) => {
    const caller = res.locals.caller!;
    if (roleAllows(caller.role, needed)) return next();
    await audit({ actor: caller.actor, action: 'admin.forbidden', target: `${req.method} ${req.path}`, detail: { role: caller.role, needed } });
    res.status(403).json({ error: `this needs the ${needed} role; the token has ${caller.role}` });
  };
  const route: DefineRoute = (method, path, handler) => {
    const spec = ADMIN_ROUTES.find((r) => r.method === method && r.path === path)!;
    router[method](path, allowed(spec.role), (req: Request, res: Response<unknown, Locals>, next: NextFunction) =>
      handler(req, res, res.locals.caller!).catch((error: unknown) => {
        if (error instanceof AccountError) return void res.status(400).json({ error: error.message });
        if (error instanceof TwoStepSecretsError) return void secretsUnavailable(deps, res, error);
        next(error);
      }),
    );
  };

  meRoutes(route, { store: deps.store, audit, secretsKey: () => deps.secretsKey(), dashboardRefreshSeconds: () => deps.dashboardRefreshSeconds() });
  overviewRoutes(route, { store: deps.store, connectorStates: () => deps.connectorStates(), scopeReports: () => deps.scopeReports() });
  alertRoutes(route, deps);
  const operationDeps = { store: deps.store, audit, describeRecord: (connector: string, kind: string, externalId: string) => deps.describeRecord(connector, kind, externalId) };
  operationRoutes(route, operationDeps);
  traceRoutes(route, { ...operationDeps, connectors: () => deps.connectorStates().map((c) => c.connector) });
  connectorRoutes(route, { store: deps.store, connectorStates: () => deps.connectorStates(), audit, wake: (id) => deps.pauseChanged(id) });
  auditTrailRoutes(route, { store: deps.store });
  accessRoutes(route, { store: deps.store, audit, sessionLimits: () => deps.sessionLimits() });
  return router;
}
