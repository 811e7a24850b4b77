// The admin dashboard: plain JavaScript against /admin/api, no external scripts (the page's
// Content-Security-Policy allows only this origin). Changes carry the CSRF token from sign-in.
'use strict';
const state = { csrf: sessionStorage.getItem('csrf') || '', role: sessionStorage.getItem('role') || 'viewer', refreshSeconds: 0, timer: undefined };
const ROLES = ['viewer', 'operator', 'admin'];
const $ = (selector) => document.querySelector(selector);
const allows = (needed) => ROLES.indexOf(state.role) >= ROLES.indexOf(needed);
const say = (text) => { $('#message').textContent = text; };
const when = (ms) => (ms === null || ms === undefined ? 'never' : new Date(ms).toLocaleString());

// `background` marks the page's own timed reloads, which the service does not count as activity
// (an open tab must not keep a session from timing out).
async function api(method, path, body, background = false) {
  const response = await fetch(`/admin/api${path}`, {
    method,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', ...(method === 'GET' ? {} : { 'x-csrf-token': state.csrf }), ...(background ? { 'x-background-refresh': '1' } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { showSignIn(data.error); throw new Error(data.error || 'signed out'); }
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function fill(selector, items, render) {
  const body = $(`${selector} tbody`);
  body.replaceChildren();
  for (const item of items) render(body.insertRow(), item);
  if (items.length === 0) cell(body.insertRow(), 'none');
}

function button(row, label, onClick) {
  const b = document.createElement('button');
  b.textContent = label;
  b.addEventListener('click', () => onClick().then(refresh).catch((e) => say(e.message)));
  row.insertCell().append(b);
}

async function refresh(background = false) {
  const get = (path) => api('GET', path, undefined, background);
  const [status, dead, activity, alerts, scopes, sessions] = await Promise.all([
    get('/status'), get('/operations?state=dead'), get('/activity'), get('/alerts'), get('/scopes'), get('/sessions'),
  ]);
  fill('#connectors', status.connectors, (row, c) => {
    cell(row, c.connector);
    cell(row, c.state, `state-${c.state}`);
    cell(row, c.reason);
    if (allows('operator') && (c.state === 'running' || c.state === 'paused')) {
      const action = c.state === 'paused' ? 'resume' : 'pause';
      button(row, action === 'pause' ? 'Pause' : 'Resume', () => api('POST', `/connectors/${encodeURIComponent(c.connector)}/${action}`));
    }
  });
  fill('#scopes', scopes.scopes, (row, s) => {
    cell(row, s.connector);
    cell(row, when(s.at));
    cell(row, s.report ? s.report.missing.join(', ') || 'none' : s.reason, s.ok ? '' : 'critical');
    cell(row, s.report && Array.isArray(s.report.extra) ? s.report.extra.join(', ') || 'none' : '');
  });
  fill('#queue', status.outbox, (row, q) => {
    cell(row, q.connector); cell(row, q.state); cell(row, q.count);
    cell(row, q.oldestCreatedAt && (q.state === 'pending' || q.state === 'in_flight') ? `${Math.round((Date.now() - q.oldestCreatedAt) / 1000)} s` : '');
  });
  fill('#sessions', sessions.sessions, (row, s) => {
    cell(row, s.user); cell(row, s.ip); cell(row, s.device); cell(row, when(s.lastSeenAt));
    button(row, 'Revoke', () => api('DELETE', `/sessions/${encodeURIComponent(s.id)}`));
  });
  fill('#dead', dead.operations, (row, op) => {
    cell(row, op.id); cell(row, op.connector); cell(row, op.kind); cell(row, op.lastError);
    if (allows('operator')) button(row, 'Replay', () => api('POST', '/operations/replay', { ids: [op.id] }));
  });
  fill('#activity', activity.messages, (row, m) => { cell(row, when(m.sentAt)); cell(row, m.customer); cell(row, m.direction); cell(row, m.type); cell(row, m.status); });
  fill('#alerts', alerts.alerts, (row, a) => { cell(row, a.severity, a.severity); cell(row, a.title); cell(row, a.count); cell(row, when(a.lastAt)); });
  await showHistory(get);
  if (allows('admin')) await Promise.all([searchAudit(background), showAccounts(get)]);
  $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

// The coexistence history import, shown once one has begun: WhatsApp's own progress, messages
// per phase, and each connector's share written.
async function showHistory(get) {
  const h = await get('/history');
  const begun = h.progress !== null || h.declined;
  $('#history').hidden = !begun;
  if (!begun) return;
  const phases = h.phases.map((p) => `phase ${p.phase}: ${p.chunks} chunks, ${p.messages} messages`).join(' · ');
  $('#history-summary').textContent = h.declined
    ? 'The business declined to share its chat history (WhatsApp error 2593109).'
    : `WhatsApp's sync ${h.progress}% · ${phases} · ${h.messagesStored} messages stored`;
  fill('#history-connectors', h.connectors, (row, c) => {
    cell(row, c.connector);
    cell(row, `${c.done} of ${c.total}${c.dead > 0 ? ` (${c.dead} failed)` : ''}`);
    const bar = document.createElement('progress');
    bar.max = Math.max(1, c.total);
    bar.value = c.done;
    row.insertCell().append(bar);
  });
}

async function showAccounts(get) {
  const [{ users }, { tokens }] = await Promise.all([get('/users'), get('/tokens')]);
  fill('#users', users, (row, u) => {
    cell(row, u.name); cell(row, u.role);
    const locked = u.lockedUntil !== null && u.lockedUntil > Date.now();
    cell(row, u.disabled ? 'disabled' : locked ? `locked until ${when(u.lockedUntil)}` : 'active', u.disabled || locked ? 'critical' : '');
    cell(row, when(u.lastLoginAt)); cell(row, u.recoveryCodesLeft, u.recoveryCodesLeft < 3 ? 'critical' : '');
    cell(row, u.secretSealed ? 'sealed' : 'in clear', u.secretSealed ? '' : 'critical');
  });
  const live = tokens.filter((t) => !t.revoked && t.expiresAt > Date.now());
  fill('#tokens', live, (row, t) => {
    cell(row, t.id); cell(row, t.name); cell(row, t.role); cell(row, when(t.expiresAt)); cell(row, when(t.lastUsedAt)); cell(row, t.createdBy);
    button(row, 'Revoke', () => api('DELETE', `/tokens/${encodeURIComponent(t.id)}`));
  });
}

function startAutoRefresh() {
  clearInterval(state.timer);
  if (!(state.refreshSeconds > 0)) return;
  state.timer = setInterval(() => {
    if (document.visibilityState === 'visible' && !$('#dashboard').hidden) refresh(true).catch((e) => say(e.message));
  }, state.refreshSeconds * 1000);
}

async function searchAudit(background = false) {
  const action = new FormData($('#audit-search')).get('action') || '';
  const { records } = await api('GET', `/audit?limit=200${action ? `&action=${encodeURIComponent(action)}` : ''}`, undefined, background);
  fill('#audit', records, (row, r) => { cell(row, r.seq); cell(row, when(r.at)); cell(row, r.actor); cell(row, r.action); cell(row, r.target); });
  return records;
}

function showSignIn(reason) {
  clearInterval(state.timer);
  $('#dashboard').hidden = true;
  $('#signout').hidden = true;
  $('#signin').hidden = false;
  $('#who').textContent = '';
  if (reason) say(reason);
}

function showDashboard(user) {
  $('#signin').hidden = true;
  $('#dashboard').hidden = false;
  $('#signout').hidden = false;
  $('#who').textContent = `${user} (${state.role})`;
  for (const el of document.querySelectorAll('.operator')) el.hidden = !allows('operator');
  for (const el of document.querySelectorAll('.admin')) el.hidden = !allows('admin');
}

$('#signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch('/admin/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Object.fromEntries(form)) });
  const data = await response.json();
  if (!response.ok) return say(data.error);
  Object.assign(state, { csrf: data.csrfToken, role: data.role, refreshSeconds: data.refreshSeconds });
  sessionStorage.setItem('csrf', data.csrfToken);
  sessionStorage.setItem('role', data.role);
  sessionStorage.setItem('user', data.user);
  say(data.warning || '');
  event.target.reset();
  showDashboard(data.user);
  startAutoRefresh();
  await refresh().catch((e) => say(e.message));
});

$('#signout').addEventListener('click', async () => {
  await fetch('/admin/session/logout', { method: 'POST' });
  sessionStorage.clear();
  showSignIn('signed out');
});
$('#replay-all').addEventListener('click', () => api('POST', '/operations/replay', { allDead: true }).then(refresh).catch((e) => say(e.message)));
$('#password').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { otherSessionsEnded } = await api('POST', '/me/password', Object.fromEntries(new FormData(event.target)));
    event.target.reset();
    say(`password changed${otherSessionsEnded > 0 ? `; ${otherSessionsEnded} other session${otherSessionsEnded === 1 ? '' : 's'} signed out` : ''}`);
  } catch (e) {
    say(e.message);
  }
});
$('#audit-search').addEventListener('submit', (event) => { event.preventDefault(); searchAudit().catch((e) => say(e.message)); });
$('#audit-export').addEventListener('click', async () => {
  const records = await searchAudit();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([JSON.stringify(records, null, 2)], { type: 'application/json' }));
  link.download = 'wa-crm-sync-audit.json';
  link.click();
});

api('GET', '/me').then((me) => {
  Object.assign(state, { role: me.role, refreshSeconds: me.refreshSeconds });
  showDashboard(me.user || me.actor);
  startAutoRefresh();
  return refresh();
}).catch(() => showSignIn());
