// The console's script (served at /app.js): draws each snapshot the server pushes over one
// EventSource (no polling), and runs actions after a confirmation that says what will happen.
// Plain browser JavaScript in a string (no build step, nothing fetched from elsewhere); it must not
// contain a backtick or a dollar-brace, which would end or interpolate the string.
export const APP_JS = String.raw`
'use strict';
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v === null || v === undefined ? '' : v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const ZONE = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(new Date()).find((p) => p.type === 'timeZoneName');
const zone = ZONE ? ' ' + ZONE.value : '';
const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString(undefined, { hour12: false }) + zone : '-');
const stamp = (ms) => new Date(ms).toLocaleString(undefined, { hour12: false }) + zone;
function dur(ms) {
  if (ms === null || ms === undefined) return '-';
  const neg = ms < 0 ? '-' : '';
  ms = Math.abs(ms);
  if (ms < 1000) return neg + Math.round(ms) + ' ms';
  if (ms < 60000) return neg + (ms / 1000).toFixed(1) + ' s';
  if (ms < 3600000) return neg + Math.floor(ms / 60000) + ' min ' + Math.round((ms % 60000) / 1000) + ' s';
  if (ms < 86400000) return neg + Math.floor(ms / 3600000) + ' h ' + Math.round((ms % 3600000) / 60000) + ' min';
  return neg + Math.floor(ms / 86400000) + ' d ' + Math.round((ms % 86400000) / 3600000) + ' h';
}

// Each state: a tone (colour) AND a symbol AND its name, so colour is never the only signal.
const TONES = {
  running: ['ok', '\u2714'], online: ['ok', '\u2714'], ok: ['ok', '\u2714'], up: ['ok', '\u2714'],
  starting: ['info', '\u25B6'], stopping: ['info', '\u25A0'], standby: ['warn', '\u23F8'], maintenance: ['warn', '\u2692'],
  stopped: ['warn', '\u25A0'], disabled: ['warn', '\u23F9'], unchecked: ['warn', '?'], new: ['info', '\u2605'], unknown: ['warn', '?'], gone: ['info', '\u2013'],
  failed: ['bad', '\u2716'], blocked: ['bad', '\u26D4'], offline: ['bad', '\u2716'], fenced: ['bad', '\u26A1'], down: ['bad', '\u2716'],
};
function badge(state) {
  const t = TONES[state] || ['info', '\u2022'];
  return '<span class="state" data-tone="' + t[0] + '"><span aria-hidden="true">' + t[1] + '</span> ' + esc(state) + '</span>';
}
function table(caption, headers, rows) {
  return '<div class="scroll"><table>' + (caption ? '<caption>' + esc(caption) + '</caption>' : '') +
    '<thead><tr>' + headers.map((h) => '<th scope="col">' + esc(h) + '</th>').join('') + '</tr></thead><tbody>' +
    rows.map((r) => '<tr>' + r.map((c) => '<td' + (c && c.cls ? ' class="' + c.cls + '"' : '') + '>' + (c && c.html !== undefined ? c.html : esc(c === null || c === undefined || c === '' ? '-' : c)) + '</td>').join('') + '</tr>').join('') +
    '</tbody></table></div>';
}
const html = (s) => ({ html: s });
function button(label, req, extra) {
  return '<button type="button" data-req="' + esc(JSON.stringify(req)) + '"' + (extra || '') + '>' + esc(label) + '</button>';
}
// A select whose value survives redraws (the page is redrawn on every change of the cluster).
const chosen = {};
function select(id, label, options) {
  const keep = chosen[id];
  return '<label>' + esc(label) + ' <select id="' + esc(id) + '" data-keep="1">' +
    options.map((o) => '<option value="' + esc(o[0]) + '"' + (o[0] === keep ? ' selected' : '') + '>' + esc(o[1]) + '</option>').join('') + '</select></label>';
}

// A section is replaced only when what it shows changed: fewer redraws, and a click or a choice in
// progress is not lost to an update of something else.
const drawn = {};
function setHtml(id, markup) {
  if (drawn[id] === markup) return;
  drawn[id] = markup;
  $(id).innerHTML = markup;
}

let snap = null;
let actions = [];

function renderHosts(s) {
  const rows = s.status.nodes.map((n) => {
    const lease = n.lease ? 'granted ' + n.lease.grantedTtlSeconds + ' s, ' + dur(n.lease.remainingMs) + ' left' : n.lease === null ? 'could not be read' : n.state === 'offline' || n.state === 'fenced' ? 'none (expired)' : '-';
    const act = n.state === 'standby' ? button('Unstandby', { action: 'unstandby', node: n.name }, ' id="unstandby-' + esc(n.name) + '"')
      : n.state === 'online' ? button('Standby', { action: 'standby', node: n.name }, ' id="standby-' + esc(n.name) + '"') : '';
    return [html('<strong>' + esc(n.name) + '</strong>'), html(badge(n.state) + (n.maintenance ? ' ' + badge('maintenance') : '')), lease, n.sets.join(', '), html(act)];
  });
  setHtml('hosts-body', rows.length === 0 ? '<p>No hosts known yet.</p>' : table('', ['Host', 'State', 'Lease', 'Sets', 'Action'], rows));
}

function bansOf(s, set) {
  // status sets may carry their bans themselves (sets[].bans); else the console's own list.
  const own = set.bans;
  if (Array.isArray(own)) return own;
  return s.bans.filter((b) => b.set === set.name);
}

function renderSet(s, set) {
  const id = set.name;
  const nodes = s.status.nodes.map((n) => n.name);
  const bans = bansOf(s, set);
  const facts = [
    '<li>Host: <strong class="node">' + esc(set.node || (set.nodes && set.nodes.length ? set.nodes.join(', ') : 'none')) + '</strong></li>',
    '<li>Token: <span class="token">' + esc(set.fencingToken === null ? '-' : set.fencingToken) + '</span></li>',
    '<li>Since: ' + esc(clock(set.since)) + '</li>',
    '<li>Mode: ' + esc(set.mode) + '</li>',
  ];
  let body = '<ul class="facts">' + facts.join('') + '</ul>';
  if (set.reason) body += '<p class="why"><strong>Why:</strong> <span class="reason">' + esc(set.reason) + '</span></p>';
  if (set.instances) {
    body += table('Instances', ['Instance', 'State', 'Host', 'Token', 'Why'], set.instances.map((i) => [i.name, html(badge(i.state)), i.node, i.fencingToken, { cls: 'reason', html: esc(i.reason || '-') }]));
  }
  body += table('Resources', ['Resource', 'Type', 'State', 'Fails', 'Last failure'], set.resources.map((r) => [r.id, r.type, html(badge(r.state)), r.failCount, { cls: 'reason', html: esc(r.lastReason || '-') }]));
  body += bans.length === 0 ? '<p class="muted">No bans.</p>'
    : table('Bans', ['Host', 'Until', 'Why'], bans.map((b) => [b.node, b.until ? stamp(typeof b.until === 'number' ? b.until : Date.parse(b.until)) : 'until cleared', { cls: 'reason', html: esc(b.reason || b.why || '-') }]));
  let acts = '';
  if (set.mode !== 'clone') {
    const others = nodes.filter((n) => n !== set.node);
    const opts = (set.node ? [['', 'best eligible host']] : []).concat(others.map((n) => [n, n]));
    acts += '<span class="group">' + select('target-' + id, set.node ? 'Switch over to' : 'Start on', opts) +
      '<button type="button" id="switch-' + esc(id) + '" data-set="' + esc(id) + '" data-kind="' + (set.node ? 'failover' : 'move') + '">' + (set.node ? 'Switch over' : 'Move') + '</button></span>';
  }
  acts += '<span class="group">' + select('ban-' + id, 'Ban from', nodes.map((n) => [n, n])) +
    '<button type="button" id="banbtn-' + esc(id) + '" data-set="' + esc(id) + '" data-kind="ban">Ban</button></span>';
  if (bans.length > 0) acts += button('Clear bans', { action: 'clear', set: id }, ' id="clear-' + esc(id) + '"');
  acts += button('Clean up', { action: 'cleanup', set: id }, ' id="cleanup-' + esc(id) + '"');
  const inMaint = set.state === 'maintenance' && set.reason !== 'cluster-wide maintenance';
  acts += inMaint ? button('Maintenance off', { action: 'maintenance-off', set: id }, ' id="maint-' + esc(id) + '"') : button('Maintenance on', { action: 'maintenance-on', set: id }, ' id="maint-' + esc(id) + '"');
  // enable/disable go here once the CLI has them (the server lists them in its actions).
  if (actions.indexOf('disable') >= 0) acts += button('Disable', { action: 'disable', set: id }, ' id="disable-' + esc(id) + '"');
  if (actions.indexOf('enable') >= 0) acts += button('Enable', { action: 'enable', set: id }, ' id="enable-' + esc(id) + '"');
  return '<article class="card" id="set-' + esc(id) + '" aria-labelledby="set-title-' + esc(id) + '"><header><h3 id="set-title-' + esc(id) + '">' + esc(id) + '</h3>' +
    '<span class="set-state" data-state="' + esc(set.state) + '">' + badge(set.state) + '</span></header>' + body +
    '<div class="actions" role="group" aria-label="Actions on ' + esc(id) + '">' + acts + '</div></article>';
}

function renderSets(s) {
  setHtml('sets-body', s.status.sets.length === 0 ? '<p>No service sets configured (hactl config apply FILE).</p>'
    : '<div class="cards">' + s.status.sets.map((set) => renderSet(s, set)).join('') + '</div>');
}

function renderDevices(s) {
  const d = s.status.devices;
  setHtml('devices-body', d.length === 0 ? '<p>No fence devices configured.</p>'
    : table('', ['Device', 'Agent', 'Fences', 'Health', 'Checked', 'By', 'Why'], d.map((x) => [x.name, x.agent, x.fences.join(', '), html(badge(x.state)), clock(x.checkedAt || null), x.by, { cls: 'reason', html: esc(x.reason || '-') }])));
}

function timeline(a) {
  const from = a.periodStartMs;
  const span = Math.max(1, a.periodEndMs - from);
  const x = (ms) => Math.max(0, Math.min(1000, ((ms - from) / span) * 1000));
  let rects = '<rect x="0" y="4" width="1000" height="24" fill="#4ac26b"><title>up</title></rect>';
  for (const o of a.outages) {
    const x0 = x(o.startMs);
    const x1 = x(o.endMs === null ? a.periodEndMs : o.endMs);
    const kind = o.kind === 'planned' ? 'planned' : 'unplanned';
    const what = (o.kind === 'mixed' ? 'planned and unplanned' : o.kind) + ' outage, ' + dur(o.durationMs) + ' from ' + stamp(o.startMs) + ': ' + o.cause;
    rects += '<rect x="' + x0.toFixed(1) + '" y="4" width="' + Math.max(2, x1 - x0).toFixed(1) + '" height="24" fill="url(#' + kind + ')" stroke="#1b1f24" stroke-width="0.6"><title>' + esc(what) + '</title></rect>';
  }
  const label = a.set + ': ' + (a.outages.length === 0 ? 'up for the whole period' : a.outages.length + ' outage(s)') + ' between ' + stamp(from) + ' and ' + stamp(a.periodEndMs);
  return '<svg class="timeline" viewBox="0 0 1000 44" role="img" aria-label="' + esc(label) + '"><title>' + esc(label) + '</title>' +
    '<defs><pattern id="unplanned" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffebe9"/><rect width="3" height="6" fill="#cf222e"/></pattern>' +
    '<pattern id="planned" width="6" height="6" patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="#fff8c5"/><rect width="3" height="6" fill="#d4a72c"/></pattern></defs>' +
    rects + '<text x="0" y="42" font-size="11" fill="#57606a">' + esc(stamp(from)) + '</text><text x="1000" y="42" font-size="11" text-anchor="end" fill="#57606a">' + esc(stamp(a.periodEndMs)) + '</text></svg>';
}

function pct(p) {
  return p === null || p === undefined ? 'n/a' : (Math.floor(p * 10000) / 10000).toFixed(4) + ' %';
}

function renderAvailability(s) {
  const r = s.availability;
  let out = '<p class="muted">From the event history, as hactl report computes it; target ' + esc(r.targetPercent) + ' % (a yearly budget of ' + esc(dur(r.yearlyBudgetMs)) + ').</p>';
  out += '<ul class="legend" aria-label="Timeline legend"><li><span class="swatch up"></span>up</li><li><span class="swatch planned"></span>planned outage (vertical stripes)</li><li><span class="swatch unplanned"></span>unplanned outage (diagonal stripes)</li></ul>';
  if (r.sets.length === 0) out += '<p>No sets in the history yet.</p>';
  out += table('', ['Set', 'Now', 'Uptime', 'Nines', 'Planned down', 'Unplanned down', 'Failovers', 'Switchovers', 'Budget left'], r.sets.map((a) => [
    a.set, html(badge(a.state) + (a.node ? ' on ' + esc(a.node) : '')), pct(a.uptimePercent), a.nines === null ? (a.uptimePercent === null ? 'n/a' : 'no downtime') : a.nines + ' (' + a.ninesExact.toFixed(2) + ')',
    dur(a.plannedDownMs), dur(a.unplannedDownMs), a.failovers, a.switchovers, dur(a.budget.remainingMs) + (a.budget.remainingMs < 0 ? ' EXCEEDED' : ''),
  ]));
  for (const a of r.sets) {
    out += '<h3>' + esc(a.set) + '</h3>' + timeline(a);
    if (a.outages.length > 0) {
      out += table('Outages of ' + a.set, ['Start', 'Duration', 'Kind', 'From', 'To', 'Cause'], a.outages.map((o) => [
        stamp(o.startMs), (o.startIsLowerBound ? '\u2265 ' : '') + dur(o.durationMs) + (o.ongoing ? ' (ongoing)' : ''), o.kind === 'mixed' ? 'planned ' + dur(o.plannedMs) + ' + unplanned ' + dur(o.unplannedMs) : o.kind, o.fromNode, o.toNode, { cls: 'reason', html: esc(o.cause) },
      ]));
    }
  }
  const notes = r.notes.concat(...r.sets.map((a) => a.notes));
  if (notes.length > 0) out += '<h3>Notes</h3><ul>' + notes.map((n) => '<li>' + esc(n) + '</li>').join('') + '</ul>';
  setHtml('availability-body', out);
}

function fillFilter(id, values) {
  const sel = $(id);
  const cur = sel.value;
  const want = [''].concat(values);
  const have = Array.from(sel.options).map((o) => o.value);
  if (want.join('\n') === have.join('\n')) return;
  sel.innerHTML = want.map((v) => '<option value="' + esc(v) + '"' + (v === cur ? ' selected' : '') + '>' + esc(v || 'all') + '</option>').join('');
}

function renderEvents() {
  if (!snap) return;
  const s = snap;
  const uniq = (xs) => Array.from(new Set(xs.filter(Boolean))).sort();
  fillFilter('f-set', uniq(s.events.map((e) => e.set).concat(s.status.sets.map((x) => x.name))));
  fillFilter('f-node', uniq(s.events.map((e) => e.node)));
  fillFilter('f-what', uniq(s.events.map((e) => e.what)));
  const fSet = $('f-set').value, fNode = $('f-node').value, fWhat = $('f-what').value, fSince = Number($('f-since').value || 0), fText = $('f-text').value.trim().toLowerCase();
  const fromMs = fSince > 0 ? Date.now() - fSince : 0;
  const shown = s.events.filter((e) => (!fSet || e.set === fSet || (e.set && e.set.split(':')[0] === fSet)) && (!fNode || e.node === fNode) && (!fWhat || e.what === fWhat) && e.atWallMs >= fromMs && (!fText || (e.reason + ' ' + (e.resource || '')).toLowerCase().indexOf(fText) >= 0));
  $('events-count').textContent = shown.length + ' of ' + s.events.length + ' newest events shown (' + s.eventsTotal + ' in the history), newest first';
  setHtml('events-body', table('', ['Time', 'Host', 'Set', 'Event', 'Reason', 'Details'], shown.map((e) => [
    stamp(e.atWallMs), e.node, e.set, e.what, { cls: 'reason', html: esc(e.reason) }, [e.resource ? 'resource ' + e.resource : '', e.rc !== undefined ? 'rc ' + e.rc : '', e.token ? 'token ' + e.token : ''].filter(Boolean).join(', '),
  ])));
}

function renderClusterActions(s) {
  const m = s.status.maintenance;
  setHtml('cluster-actions', (m ? badge('maintenance') + ' ' : '') +
    (m ? button('Cluster maintenance off', { action: 'maintenance-off' }, ' id="maint-cluster"') : button('Cluster maintenance on', { action: 'maintenance-on' }, ' id="maint-cluster"')));
}

function render(s) {
  snap = s;
  const focused = document.activeElement && document.activeElement.id ? document.activeElement.id : null;
  $('cluster').textContent = s.cluster;
  $('who').textContent = 'acting as ' + (s.identity || 'the configured etcd credentials') + ' \u00B7 revision ' + s.status.revision + ' \u00B7 updated ' + stamp(s.atWallMs);
  const trouble = $('trouble');
  const problems = (s.trouble ? ['etcd: ' + s.trouble] : []).concat(s.status.problems.map((p) => 'warning: ' + p));
  trouble.hidden = problems.length === 0;
  trouble.textContent = problems.join(' \u2014 ');
  renderClusterActions(s);
  renderHosts(s);
  renderSets(s);
  renderDevices(s);
  renderAvailability(s);
  renderEvents();
  // A redraw replaced the control that had the focus: give it to its successor.
  if (focused && document.activeElement === document.body && $(focused)) $(focused).focus();
}

// Actions: preview (what will happen) -> confirm -> run; the result is announced in #notice.
const dialog = $('confirm');
let pending = null;
let opener = null;
function requestFor(btn) {
  if (btn.dataset.req) return JSON.parse(btn.dataset.req);
  const set = btn.dataset.set;
  if (btn.dataset.kind === 'ban') return { action: 'ban', set: set, node: $('ban-' + set).value };
  const node = $('target-' + set).value;
  return btn.dataset.kind === 'move' ? { action: 'move', set: set, node: node } : { action: 'failover', set: set, node: node || undefined };
}
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const data = await res.json().catch(() => ({ ok: false, message: 'the console answered ' + res.status }));
  return Object.assign({ status: res.status }, data);
}
function notice(outcome, text) {
  const n = $('notice');
  n.dataset.outcome = outcome;
  n.textContent = text;
}
async function ask(btn) {
  const req = requestFor(btn);
  const preview = await post('/api/preview', req);
  if (preview.status !== 200) return notice('bad input', 'Not sent: ' + preview.message);
  pending = { req: req };
  opener = btn.id || null;
  $('confirm-title').textContent = 'Confirm: ' + btn.textContent;
  $('confirm-text').textContent = preview.text;
  $('confirm-cmd').textContent = preview.command;
  $('confirm-ok').textContent = btn.textContent;
  dialog.showModal();
  $('confirm-cancel').focus();
}
function closeDialog() {
  if (dialog.open) dialog.close();
}
// Closed by Cancel, Escape or after the action: the focus goes back to the button that opened it
// (looked up by id: a redraw may have replaced it meanwhile).
dialog.addEventListener('close', () => {
  pending = null;
  const back = opener ? $(opener) : null;
  opener = null;
  if (back) back.focus();
});
$('confirm-cancel').addEventListener('click', closeDialog);
$('confirm-ok').addEventListener('click', async () => {
  if (!pending) return;
  const req = pending.req;
  const ok = $('confirm-ok');
  ok.disabled = true;
  notice('running', 'Running ' + $('confirm-cmd').textContent + ' \u2026');
  try {
    const r = await post('/api/action', req);
    const label = r.outcome === 'done' ? 'Done' : r.outcome ? r.outcome.charAt(0).toUpperCase() + r.outcome.slice(1) + ' (exit ' + r.exitCode + ')' : 'Failed';
    notice(r.outcome || 'failed', label + ': ' + r.message);
  } catch (err) {
    notice('failed', 'Failed: the console did not answer (' + err.message + ')');
  } finally {
    ok.disabled = false;
    closeDialog();
  }
});
document.addEventListener('click', (e) => {
  const btn = e.target.closest('button[data-req], button[data-kind]');
  if (btn) ask(btn).catch((err) => notice('failed', 'Failed: ' + err.message));
});
document.addEventListener('change', (e) => {
  const t = e.target;
  if (t.dataset && t.dataset.keep) chosen[t.id] = t.value;
  if (t.id && t.id.indexOf('f-') === 0) renderEvents();
});
$('f-text').addEventListener('input', renderEvents);

// The live feed: the browser reconnects by itself; the server sends the current view on connect.
function setConn(state, text) {
  $('conn').dataset.state = state;
  $('conn').querySelector('.sym').textContent = state === 'live' ? '\u25CF' : state === 'lost' ? '\u2716' : '\u2026';
  $('conn-text').textContent = text;
}
const feed = new EventSource('/api/stream');
feed.addEventListener('open', () => setConn('live', 'live'));
feed.addEventListener('error', () => setConn('lost', 'connection to hactl web lost; reconnecting'));
feed.addEventListener('actions', (e) => { actions = JSON.parse(e.data); });
feed.addEventListener('snapshot', (e) => render(JSON.parse(e.data)));
`;
