// The admin dashboard: plain JavaScript against /admin/api, no external scripts (the page's
// Content-Security-Policy allows only this origin). One section shows at a time, chosen by the
// address's #fragment. Changes carry the session's CSRF token, which the page asks the service
// for (GET /admin/session), so a second tab or a restarted browser works with the same session.
'use strict';
const state = { csrf: '', role: 'viewer', refreshSeconds: 0, timer: undefined, showResolved: false, charts: {} };
const ROLES = ['viewer', 'operator', 'admin'];
const PAGES = ['overview', 'alerts', 'connectors', 'waiting', 'dead', 'trace', 'activity', 'account', 'admin'];
const $ = (selector) => document.querySelector(selector);
const allows = (needed) => ROLES.indexOf(state.role) >= ROLES.indexOf(needed);
const say = (text) => { $('#message').textContent = text; };
const when = (ms) => (ms === null || ms === undefined ? 'never' : new Date(ms).toLocaleString());
const ago = (ms) => {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 90 ? `${s} s ago` : s < 5400 ? `${Math.round(s / 60)} min ago` : s < 129600 ? `${Math.round(s / 3600)} h ago` : `${Math.round(s / 86400)} days ago`;
};

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

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'className') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text === null || text === undefined ? '' : String(text);
  if (className) td.className = className;
  return td;
}

function fill(selector, items, render, empty = 'none') {
  const body = $(`${selector} tbody`);
  body.replaceChildren();
  for (const item of items) render(body.insertRow(), item);
  if (items.length === 0) cell(body.insertRow(), empty, 'empty').colSpan = 8;
}

function actionButton(label, onClick, className = '') {
  const b = el('button', { text: label, className });
  b.addEventListener('click', () => onClick().then(() => refresh()).catch((e) => say(e.message)));
  return b;
}

function button(row, label, onClick) {
  row.insertCell().append(actionButton(label, onClick));
}

/** Asks before a change; resolves with the note typed (or '' when no note is asked), or null when cancelled. */
function confirmChange({ title, text, confirm = 'Confirm', note = false }) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = confirm;
  $('#confirm-note-label').hidden = !note;
  $('#confirm-note').value = '';
  $('#confirm-note').required = note;
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok' ? $('#confirm-note').value.trim() : null), { once: true });
  });
}

async function refresh(background = false) {
  const get = (path) => api('GET', path, undefined, background);
  const [status, dead, waiting, discarded, activity, alerts, scopes, sessions, health, charts] = await Promise.all([
    get('/status'), get('/operations?state=dead'), get('/operations?state=waiting'), get('/operations?state=discarded'), get('/activity'), get(`/alerts${state.showResolved ? '?include=resolved' : ''}`), get('/scopes'), get('/sessions'), get('/connectors/health'),
    // The charts' reads are the heaviest: only while the overview shows them.
    $('#overview').hidden ? null : get('/charts'),
  ]);
  fill('#health', health.connectors, (row, h) => {
    cell(row, h.connector, h.degraded ? 'critical' : '');
    cell(row, h.lastSuccessAt ? ago(h.lastSuccessAt) : 'none yet');
    cell(row, h.errorRate === null ? 'no recent work' : `${Math.round(h.errorRate * 100)}% of ${h.recent.succeeded + h.recent.failing}${h.degraded ? ' (degraded)' : ''}`, h.degraded ? 'critical' : '');
    cell(row, h.lastError ? `${ago(h.lastError.at)}: ${h.lastError.message}` : 'none');
    cell(row, h.backoff.count > 0 ? `${h.backoff.count}, next ${when(h.backoff.nextRunAt)}` : 'none');
    if (allows('operator') && h.backoff.count > 0) {
      button(row, 'Retry now', async () => {
        const ok = await confirmChange({ title: `Retry ${h.connector} now?`, text: `${h.backoff.count} operation(s) waiting out a backoff run at once.`, confirm: 'Retry now' });
        if (ok === null) return;
        const { retried } = await api('POST', `/connectors/${encodeURIComponent(h.connector)}/retry`);
        say(`${retried} operation(s) of ${h.connector} run now`);
      });
    } else row.insertCell();
  });
  showOverview(status, alerts.alerts, dead.operations, waiting.operations);
  fill('#connector-table', status.connectors, (row, c) => {
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
  }, 'the queue is empty');
  // An opt-out a CRM has not taken yet stays in sight until it is written (or replayed).
  const consentWrites = status.consentWrites ?? [];
  $('#consent-writes').hidden = consentWrites.length === 0;
  fill('#consent-table', consentWrites, (row, w) => {
    cell(row, w.connector); cell(row, w.status === 'opted_out' ? 'opt-out' : 'opt-in'); cell(row, when(w.changedAt));
    cell(row, w.state === 'dead' ? 'failed' : w.state, w.state === 'dead' ? 'critical' : ''); cell(row, w.attempts); cell(row, w.lastError);
  });
  fill('#sessions', sessions.sessions, (row, s) => {
    cell(row, s.user); cell(row, s.ip); cell(row, s.device); cell(row, when(s.lastSeenAt));
    button(row, 'Revoke', () => api('DELETE', `/sessions/${encodeURIComponent(s.id)}`));
  });
  showDead(dead.operations, discarded.operations);
  showWaiting(waiting.operations);
  if (charts) {
    state.lastCharts = charts;
    showCharts(charts);
  }
  fill('#activity-table', activity.messages, (row, m) => { cell(row, when(m.sentAt)); cell(row, m.customer); cell(row, m.direction); cell(row, m.type); cell(row, m.status); }, 'no messages yet');
  showAlerts(alerts.alerts);
  await showHistory(get);
  if (allows('admin')) await Promise.all([searchAudit(background), showAccounts(get)]);
  $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

/** Where the console shows an operation: its row in the waiting or the dead list. */
function operationLink(op, text = `#${op.id}`) {
  const page = op.state === 'dead' || op.state === 'discarded' ? 'dead' : 'waiting';
  return el('a', { href: `#${page}/${op.id}`, className: 'op-link', text });
}

/** Vendor records with their pages in the vendor's app where the connector knows them. */
function recordCell(row, records) {
  const td = row.insertCell();
  if (records.length === 0) td.append(el('span', { className: 'muted', text: 'none' }));
  for (const r of records) {
    td.append(r.url ? el('a', { href: r.url, target: '_blank', rel: 'noopener noreferrer', text: r.label }) : el('span', { text: r.label }), ' ');
  }
  return td;
}

function marked(row, op) {
  row.dataset.op = String(op.id);
  if (location.hash.slice(1) === `${row.closest('section').id}/${op.id}`) row.classList.add('target');
}

function showDead(dead, discarded) {
  fill('#dead-table', dead, (row, op) => {
    marked(row, op);
    cell(row, op.id); cell(row, when(op.updatedAt)); cell(row, op.connector); cell(row, op.kind); cell(row, op.customer ?? '');
    cell(row, `${op.attempts} of ${op.maxAttempts}`); cell(row, op.summary, 'summary'); recordCell(row, op.records); cell(row, op.lastError);
    const actions = row.insertCell();
    if (!allows('operator')) return;
    actions.className = 'actions';
    actions.append(
      actionButton('Replay', async () => {
        const ok = await confirmChange({ title: `Replay operation #${op.id}?`, text: `${op.kind} at ${op.connector} is queued again with a fresh set of attempts.`, confirm: 'Replay' });
        if (ok === null) return;
        const { replayed } = await api('POST', '/operations/replay', { ids: [op.id] });
        say(`${replayed} operation(s) queued again`);
      }),
      actionButton('Discard…', async () => {
        const ok = await confirmChange({ title: `Discard operation #${op.id}?`, text: `${op.kind} at ${op.connector} will never be sent. It stays listed as discarded, and the audit trail records who discarded it.`, confirm: 'Discard' });
        if (ok === null) return;
        const { discarded: ids } = await api('POST', '/operations/discard', { ids: [op.id] });
        say(ids.length > 0 ? `operation #${op.id} discarded` : `operation #${op.id} was no longer dead; nothing discarded`);
      }, 'danger'),
    );
  }, 'no dead operations');
  fill('#discarded-table', discarded, (row, op) => {
    marked(row, op);
    cell(row, op.id); cell(row, when(op.updatedAt)); cell(row, op.connector); cell(row, op.kind); cell(row, op.customer ?? ''); cell(row, op.summary, 'summary'); cell(row, op.lastError);
  }, 'none discarded');
}

const WHY = { 'queued-behind': 'queued behind', 'earlier-dead': 'needs' };

function showWaiting(waiting) {
  fill('#waiting-table', waiting, (row, op) => {
    marked(row, op);
    cell(row, op.id); cell(row, op.connector); cell(row, op.kind); cell(row, op.customer ?? '');
    cell(row, `${op.attempts} of ${op.maxAttempts}`);
    cell(row, op.runAt > Date.now() ? when(op.runAt) : 'now');
    const td = row.insertCell();
    if (op.waitsFor) {
      const w = op.waitsFor;
      td.append(`${WHY[w.why]} `, operationLink(w, `#${w.id} ${w.kind}`), ` (${w.state === 'dead' ? 'dead: replay it first' : w.state})`);
    } else td.append(el('span', { className: 'muted', text: 'its own next attempt' }));
    cell(row, op.lastError ?? '');
  }, 'nothing waits');
  $('#nav-waiting').textContent = waiting.length > 0 ? String(waiting.length) : '';
}

// Charts drawn by uPlot (vendor/uPlot.iife.min.js, served by this service). Times are seconds for uPlot.
const PALETTE = ['#128c7e', '#0969da', '#9a6700', '#8250df', '#cf222e', '#1a7f37', '#bf3989'];

function drawChart(id, xs, series, options = {}) {
  const box = $(`#${id}`);
  if (typeof uPlot === 'undefined' || !box) return;
  const width = Math.max(280, box.clientWidth || box.parentElement.clientWidth || 480);
  const data = [xs.map((x) => x / 1000), ...series.map((s) => s.values)];
  const key = `${id}:${series.map((s) => s.label).join('|')}`;
  const existing = state.charts[id];
  if (existing && existing.key === key && existing.plot.width === width) return existing.plot.setData(data);
  existing?.plot.destroy();
  const plot = new uPlot({
    width,
    height: 180,
    ...(options.days ? { axes: [{ values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })) }, {}] } : {}),
    scales: {
      // Bars get half a step of room at both ends, so the first and last are drawn whole.
      x: { time: true, ...(options.bars && xs.length > 1 ? { range: (_u, min, max) => { const half = (data[0][1] - data[0][0]) / 2; return [min - half, max + half]; } } : {}) },
      y: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] },
    },
    series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false, ...(options.bars ? { fill: `${PALETTE[i % PALETTE.length]}55`, points: { show: false }, paths: uPlot.paths.bars({ size: [0.6, 40] }) } : {}) }))],
  }, data, box);
  state.charts[id] = { key, plot };
}

/** Samples of several connectors on one time axis (uPlot draws every series against the same x). */
function alignSamples(queue, pick) {
  const connectors = Object.keys(queue);
  const xs = [...new Set(connectors.flatMap((c) => queue[c].at))].sort((a, b) => a - b);
  return {
    xs,
    series: connectors.map((c) => {
      const byAt = new Map(queue[c].at.map((at, i) => [at, pick(queue[c], i)]));
      return { label: c, values: xs.map((x) => (byAt.has(x) ? byAt.get(x) : null)) };
    }),
  };
}

function showCharts(charts) {
  if ($('#overview').hidden) return; // drawn when shown: a hidden box has no width
  drawChart('chart-messages', charts.hours, [
    { label: 'in from WhatsApp', values: charts.messagesIn },
    { label: 'sent to customers', values: charts.messagesOut },
    ...Object.entries(charts.written).map(([c, values]) => ({ label: `written at ${c}`, values })),
  ]);
  const depth = alignSamples(charts.queue, (q, i) => q.depth[i]);
  drawChart('chart-depth', depth.xs, depth.series);
  const oldest = alignSamples(charts.queue, (q, i) => (q.oldestAgeSeconds[i] === null ? 0 : Math.round(q.oldestAgeSeconds[i] / 6) / 10));
  drawChart('chart-oldest', oldest.xs, oldest.series);
  const errors = alignSamples(charts.queue, (q, i) => (q.errorRate[i] === null ? null : Math.round(q.errorRate[i] * 1000) / 10));
  drawChart('chart-errors', errors.xs, errors.series);
  drawChart('chart-dead', charts.days, Object.entries(charts.deadPerDay).map(([c, values]) => ({ label: c, values })), { bars: true, days: true });
}

async function searchTrace(q) {
  const result = await api('GET', `/trace?q=${encodeURIComponent(q)}`);
  const box = $('#trace-results');
  box.replaceChildren();
  $('#trace-summary').textContent = result.customers.length === 0 && result.messages.length === 0
    ? 'No customer or message matches.'
    : `${result.customers.length} customer(s)${result.customers.length > 0 ? `: ${result.customers.join(', ')}` : ''} · ${result.messages.length} message(s), newest first`;
  for (const m of result.messages) {
    const table = el('table', { className: 'trace-connectors' }, el('thead', {}, el('tr', {}, ...['Connector', 'Where it is', 'Reason', 'Vendor record', 'Operations'].map((h) => el('th', { text: h })))), el('tbody'));
    const body = table.querySelector('tbody');
    for (const c of m.connectors) {
      const row = body.insertRow();
      cell(row, c.connector);
      row.insertCell().append(el('span', { className: `trace-state ${c.state}`, text: c.state }));
      cell(row, c.reason ?? '');
      recordCell(row, c.records);
      const ops = row.insertCell();
      for (const op of c.operations) ops.append(op.state === 'done' ? el('span', { className: 'muted', text: `#${op.id} ${op.kind}` }) : operationLink(op, `#${op.id} ${op.kind}`), ' ');
    }
    if (m.connectors.length === 0) cell(body.insertRow(), 'no connector has work for this message', 'empty').colSpan = 5;
    box.append(el('article', { className: 'card trace-message', 'data-message': m.id },
      el('header', {}, el('strong', { text: m.direction === 'inbound' ? 'From the customer' : 'To the customer' }), ` ${m.type} · ${when(m.sentAt)} · ${m.customer}${m.status ? ` · ${m.status}` : ''}`),
      el('p', { className: 'meta', text: m.id }),
      table));
  }
}

function showOverview(status, alerts, dead, waiting) {
  const unresolved = alerts.filter((a) => a.state !== 'resolved');
  const critical = unresolved.filter((a) => a.severity === 'critical').length;
  const queued = status.outbox.filter((q) => q.state === 'pending' || q.state === 'in_flight').reduce((n, q) => n + q.count, 0);
  const running = status.connectors.filter((c) => c.state === 'running').length;
  const tile = (label, value, href, tone) => el('a', { className: `tile ${tone}`, href }, el('span', { className: 'value', text: String(value) }), el('span', { className: 'label', text: label }));
  $('#tiles').replaceChildren(
    tile('unresolved alerts', unresolved.length, '#alerts', critical > 0 ? 'bad' : unresolved.length > 0 ? 'warn' : 'good'),
    tile('connectors running', `${running} of ${status.connectors.length}`, '#connectors', running < status.connectors.filter((c) => c.state !== 'disabled').length ? 'warn' : 'good'),
    tile('operations waiting', queued, '#waiting', waiting.some((op) => op.lastError) ? 'warn' : 'plain'),
    tile('dead operations', dead.length, '#dead', dead.length > 0 ? 'bad' : 'good'),
  );
  $('#nav-alerts').textContent = unresolved.length > 0 ? String(unresolved.length) : '';
  $('#nav-alerts').className = `count ${critical > 0 ? 'bad' : 'warn'}`;
  $('#nav-dead').textContent = dead.length > 0 ? String(dead.length) : '';
}

function showAlerts(alerts) {
  const list = $('#alert-list');
  list.replaceChildren();
  if (alerts.length === 0) list.append(el('p', { className: 'empty', text: state.showResolved ? 'No alerts.' : 'No unresolved alerts.' }));
  for (const a of alerts) {
    const who = a.state === 'acknowledged' ? `acknowledged by ${a.acknowledgedBy} ${ago(a.acknowledgedAt)}` : a.state === 'resolved' ? `resolved by ${a.resolvedBy} ${ago(a.resolvedAt)}` : 'open';
    const actions = el('div', { className: 'actions' });
    if (allows('operator') && a.state === 'open') actions.append(actionButton('Acknowledge', () => api('POST', `/alerts/${a.id}/acknowledge`)));
    if (allows('operator') && a.state !== 'resolved') {
      actions.append(actionButton('Resolve…', async () => {
        const note = await confirmChange({ title: `Resolve "${a.title}"`, text: 'Say what you found or did: the note is kept with the alert and in the audit trail.', confirm: 'Resolve', note: true });
        if (note === null) return;
        await api('POST', `/alerts/${a.id}/resolve`, { note });
      }));
    }
    list.append(el('article', { className: `alert ${a.severity} ${a.state}`, 'data-alert': String(a.id) },
      el('header', {},
        el('span', { className: `badge ${a.severity}`, text: a.severity }),
        el('h3', { text: a.title }),
        el('span', { className: `pill ${a.state}`, text: who })),
      el('p', { className: 'meta', text: `${a.count === 1 ? 'once' : `${a.count} times`}, first ${when(a.firstAt)}, last ${ago(a.lastAt)}` }),
      el('div', { className: 'check' }, el('strong', { text: 'What to check: ' }), a.detail),
      a.resolutionNote ? el('p', { className: 'note', text: `Note: ${a.resolutionNote}` }) : undefined,
      actions));
  }
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
    if (document.visibilityState === 'visible' && !$('#dashboard').hidden && !$('#confirm').open) refresh(true).catch((e) => say(e.message));
  }, state.refreshSeconds * 1000);
}

async function searchAudit(background = false) {
  const action = new FormData($('#audit-search')).get('action') || '';
  const { records } = await api('GET', `/audit?limit=200${action ? `&action=${encodeURIComponent(action)}` : ''}`, undefined, background);
  fill('#audit', records, (row, r) => { cell(row, r.seq); cell(row, when(r.at)); cell(row, r.actor); cell(row, r.action); cell(row, r.target); });
  return records;
}

/**
 * Shows the section the address names (#alerts, #dead, ...), the overview when it names none.
 * `#dead/12` also marks operation 12's row in that section and brings it into view.
 */
function showPage() {
  const [wanted, target] = location.hash.slice(1).split('/');
  const page = PAGES.includes(wanted) && (wanted !== 'admin' || allows('admin')) ? wanted : 'overview';
  for (const section of document.querySelectorAll('section.page')) section.hidden = section.id !== page;
  for (const link of document.querySelectorAll('#nav a')) link.classList.toggle('current', link.getAttribute('href') === `#${page}`);
  for (const row of document.querySelectorAll('tr.target')) row.classList.remove('target');
  if (target) {
    const row = document.querySelector(`#${page} tr[data-op="${CSS.escape(target)}"]`);
    if (row) { row.classList.add('target'); row.scrollIntoView({ block: 'center' }); }
    else say(`operation #${target} is not in this list (any more)`);
  }
  if (page === 'overview' && !$('#dashboard').hidden) {
    api('GET', '/charts').then((charts) => { state.lastCharts = charts; showCharts(charts); }).catch((e) => say(e.message));
  }
}

function showSignIn(reason) {
  clearInterval(state.timer);
  $('#dashboard').hidden = true;
  $('#nav').hidden = true;
  $('#signout').hidden = true;
  $('#signin-page').hidden = false;
  $('#who').textContent = '';
  if (reason) say(reason);
}

function showDashboard(user) {
  $('#signin-page').hidden = true;
  $('#dashboard').hidden = false;
  $('#nav').hidden = false;
  $('#signout').hidden = false;
  $('#who').textContent = `${user} (${state.role})`;
  for (const node of document.querySelectorAll('.operator')) node.hidden = !allows('operator');
  for (const node of document.querySelectorAll('.admin:not(section)')) node.hidden = !allows('admin');
  showPage();
}

/** The session this browser holds (its cookie), with the CSRF token bound to it; undefined when signed out. */
async function currentSession() {
  const response = await fetch('/admin/session', { credentials: 'same-origin' });
  if (!response.ok) return undefined;
  return response.json();
}

function enter(session) {
  Object.assign(state, { csrf: session.csrfToken, role: session.role, refreshSeconds: session.refreshSeconds });
  showDashboard(session.user);
  startAutoRefresh();
  return refresh();
}

$('#signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch('/admin/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(Object.fromEntries(form)) });
  const data = await response.json();
  if (!response.ok) return say(data.error);
  say(data.warning || '');
  event.target.reset();
  await enter(data).catch((e) => say(e.message));
});

$('#signout').addEventListener('click', async () => {
  await fetch('/admin/session/logout', { method: 'POST' });
  showSignIn('signed out');
});
$('#replay-all').addEventListener('click', async () => {
  const ok = await confirmChange({ title: 'Replay every dead operation?', text: 'Each is queued again and runs with a fresh set of attempts.', confirm: 'Replay all' });
  if (ok === null) return;
  await api('POST', '/operations/replay', { allDead: true }).then(() => refresh()).catch((e) => say(e.message));
});
$('#alerts-resolved').addEventListener('change', (event) => {
  state.showResolved = event.target.checked;
  refresh().catch((e) => say(e.message));
});
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
$('#trace-form').addEventListener('submit', (event) => {
  event.preventDefault();
  $('#trace-summary').textContent = 'Searching…';
  searchTrace(new FormData(event.target).get('q')).catch((e) => say(e.message));
});
$('#audit-search').addEventListener('submit', (event) => { event.preventDefault(); searchAudit().catch((e) => say(e.message)); });
$('#audit-export').addEventListener('click', async () => {
  const records = await searchAudit();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([JSON.stringify(records, null, 2)], { type: 'application/json' }));
  link.download = 'wa-crm-sync-audit.json';
  link.click();
});
window.addEventListener('hashchange', showPage);

currentSession().then((session) => (session ? enter(session) : showSignIn())).catch(() => showSignIn());
