// Rain dashboard: plain script, no build step. Every poll asks only for what changed since the
// last one (`since` = the last version / stream sequence seen), so an open page costs the server
// little, whatever the size of the sessions.
"use strict";

const POLL_MS = 1000;
const WINDOW_S = 60;  // the most the task stream shows; it zooms in while less has happened
const PALETTE = ["#2f6fdf", "#e0862b", "#2e9e6a", "#8a63d2", "#d1453b", "#1fa2b8", "#b8a01f",
                 "#d45d9c", "#5b6b7d", "#7fbf3f"];

const state = {
  version: 0, sessions: new Map(), types: new Map(), governors: [],
  streamSeq: 0, stream: [], serverTime: 0, clockOffset: 0, colors: new Map(), ready: null,
  rate: null, lastFinished: null, timer: null, route: null,
};

const $ = (sel) => document.querySelector(sel);
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i ? n.toFixed(n < 10 ? 1 : 0) : n} ${units[i]}`;
}
function fmtDuration(s) {
  if (s == null) return "–";
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(1)} ms`;
  if (s < 120) return `${s.toFixed(2)} s`;
  return `${(s / 60).toFixed(1)} min`;
}
function fmtInt(n) { return n == null ? "–" : Number(n).toLocaleString("en-US"); }
function color(type) {
  if (!state.colors.has(type)) state.colors.set(type, PALETTE[state.colors.size % PALETTE.length]);
  return state.colors.get(type);
}
function bar(done, total, failed = 0, cls = "") {
  const pct = total ? Math.min(100, 100 * done / total) : 0;
  const fpct = total ? Math.min(100 - pct, 100 * failed / total) : 0;
  return `<span class="bar"><span class="${cls}" style="width:${pct}%"></span>` +
    (fpct ? `<span class="fail" style="left:${pct}%;width:${fpct}%"></span>` : "") + `</span>`;
}
function pctBar(pct, cls, label) {
  if (pct == null) return `<span class="bar"></span><span class="bar-label">–</span>`;
  return `<span class="bar"><span class="${cls}" style="width:${Math.min(100, pct)}%"></span></span>` +
    `<span class="bar-label">${label}</span>`;
}
async function getJSON(url) {
  const response = await fetch(url, {cache: "no-store"});
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}
function setStatus(ok) { $("#status").className = "status " + (ok ? "ok" : "down"); }

// --- polling ------------------------------------------------------------------------------

async function pollOverview() {
  const o = await getJSON(`/api/overview?since=${state.version}`);
  state.version = o.version;
  state.governors = o.governors;
  state.ready = o.ready_tasks;
  state.clockOffset = o.time - Date.now() / 1000;
  for (const s of o.sessions) state.sessions.set(s.session_id, s);
  for (const [name, t] of Object.entries(o.task_types)) state.types.set(name, t);
  const finished = [...state.types.values()].reduce((a, t) => a + t.finished + t.failed, 0);
  if (state.lastFinished) {
    const dt = o.time - state.lastFinished.time;
    if (dt > 0) state.rate = (finished - state.lastFinished.count) / dt;
  }
  state.lastFinished = {count: finished, time: o.time};
  if (state.route.page === "overview" && o.stream_seq > state.streamSeq) {
    // the newest 1,000 at most: more would not show on the canvas, and would cost the server
    const s = await getJSON(`/api/stream?since=${state.streamSeq}&limit=1000`);
    state.streamSeq = s.seq;
    for (const t of s.tasks) state.stream.push(t);
  }
  const horizon = o.time - WINDOW_S;
  let drop = 0;
  while (drop < state.stream.length && state.stream[drop][5] + state.stream[drop][6] < horizon) drop++;
  if (drop) state.stream.splice(0, drop);
  if (state.stream.length > 20000) state.stream.splice(0, state.stream.length - 20000);
}

async function tick() {
  try {
    await pollOverview();
    renderTotals();
    const r = state.route;
    if (r.page === "overview") renderOverview();
    else if (r.page === "session") await renderSession(r.session, false);
    setStatus(true);
  } catch (err) {
    setStatus(false);
    console.error(err);
  }
}

// --- overview -----------------------------------------------------------------------------

function renderTotals() {
  const govs = state.governors;
  const cpus = govs.reduce((a, g) => a + g.cpus, 0);
  const busy = govs.reduce((a, g) => a + g.busy_cpus, 0);
  const running = [...state.sessions.values()].filter((s) => s.status === "running").length;
  $("#totals").innerHTML =
    `<span>governors <b id="total-governors">${govs.length}</b></span>` +
    `<span>CPUs busy <b>${busy} / ${cpus}</b></span>` +
    `<span>ready tasks <b>${fmtInt(state.ready)}</b></span>` +
    `<span>running sessions <b>${running}</b></span>` +
    `<span>tasks/s <b>${state.rate == null ? "–" : fmtInt(Math.round(state.rate))}</b></span>`;
}

function renderOverview() {
  renderGovernors();
  renderSessions();
  renderStream();
  renderTypes();
}

function renderGovernors() {
  const rows = state.governors.map((g) => {
    const types = g.task_types;
    const shown = types.filter((t) => t.startsWith("buildin/") === false).slice(0, 4);
    const typeText = `${types.length} types` + (shown.length ? `: ${shown.join(", ")}${types.length > shown.length ? ", …" : ""}` : "");
    const mem = g.memory_total ? 100 * g.memory_used / g.memory_total : null;
    return `<tr data-governor="${esc(g.governor_id)}">` +
      `<td><b>${esc(g.governor_id)}</b></td>` +
      `<td class="nowrap">${pctBar(g.cpu_percent, "cpu", g.cpu_percent == null ? "–" : `${g.cpu_percent.toFixed(0)} %`)}</td>` +
      `<td class="nowrap">${bar(g.busy_cpus, g.cpus, 0, "cpu")}<span class="bar-label cpus">${g.busy_cpus} / ${g.cpus}</span></td>` +
      `<td class="nowrap">${pctBar(mem, "mem", g.memory_total ? `${fmtBytes(g.memory_used)} / ${fmtBytes(g.memory_total)}` : "–")}</td>` +
      `<td class="num assigned">${fmtInt(g.assigned_tasks)}</td>` +
      `<td class="num objects">${fmtInt(g.objects)}</td>` +
      `<td class="num">${fmtBytes(g.stored_bytes)}</td>` +
      `<td class="types" title="${esc(types.join(", "))}">${esc(typeText)}</td></tr>`;
  });
  $("#governors tbody").innerHTML = rows.join("") || `<tr><td colspan="8" class="empty">no governors connected</td></tr>`;
}

function statusPill(s) { return `<span class="pill ${s.status}">${s.status}</span>`; }

function renderSessions() {
  const sessions = [...state.sessions.values()].sort((a, b) => b.session_id - a.session_id);
  const rows = sessions.map((s) => {
    const mini = Object.entries(s.types).map(([name, t]) =>
      `<span class="mini" title="${esc(name)}: ${t.finished} of ${t.submitted} finished">` +
      `<span class="swatch" style="background:${color(name)}"></span>${esc(shortType(name))}` +
      `${bar(t.finished, t.submitted, t.failed)}</span>`).join("");
    let row = `<tr data-session="${s.session_id}">` +
      `<td class="num"><a href="#/session/${s.session_id}">${s.session_id}</a></td>` +
      `<td><a href="#/session/${s.session_id}">${esc(s.name)}</a></td><td>${statusPill(s)}</td>` +
      `<td class="nowrap">${bar(s.finished, s.submitted, s.failed)}<span class="bar-label progress-text">${fmtInt(s.finished)} / ${fmtInt(s.submitted)}</span></td>` +
      `<td class="num failed-count">${fmtInt(s.failed)}</td><td>${mini}</td></tr>`;
    if (s.error) {
      const link = s.failed_task != null ? ` <a href="#/task/${s.session_id}/${s.failed_task}">inspect task ${s.failed_task}</a>` : "";
      row += `<tr class="failure" data-failure="${s.session_id}"><td></td><td colspan="5"><div class="error">${esc(firstLines(s.error, 4))}</div>${link}</td></tr>`;
    }
    return row;
  });
  $("#sessions tbody").innerHTML = rows.join("") || `<tr><td colspan="6" class="empty">no sessions yet</td></tr>`;
}

function firstLines(text, n) {
  const lines = String(text).split("\n");
  return lines.slice(0, n).join("\n") + (lines.length > n ? "\n…" : "");
}
function shortType(name) { return name.replace(/^buildin\//, ""); }

function renderTypes() {
  const rows = [...state.types.entries()].sort().map(([name, t]) =>
    `<tr data-type="${esc(name)}"><td><span class="swatch" style="background:${color(name)}"></span> ${esc(name)}</td>` +
    `<td class="num">${fmtInt(t.submitted)}</td><td class="num">${fmtInt(t.finished)}</td>` +
    `<td class="num">${fmtInt(t.failed)}</td><td class="num">${fmtDuration(t.mean_duration)}</td>` +
    `<td class="num">${fmtDuration(t.max_duration)}</td></tr>`);
  $("#task-types tbody").innerHTML = rows.join("") || `<tr><td colspan="6" class="empty">no tasks yet</td></tr>`;
}

// --- task stream --------------------------------------------------------------------------

function renderStream() {
  const canvas = $("#stream");
  const lanes = state.governors.map((g) => g.governor_id);
  const slots = new Map(state.governors.map((g) => [g.governor_id, Math.min(Math.max(g.cpus, 1), 8)]));
  for (const t of state.stream) if (t[1] && !lanes.includes(t[1])) { lanes.push(t[1]); slots.set(t[1], 1); }
  // one row per CPU (up to 8) in a governor's lane; lanes start at laneTop[i]
  const rowH = 16, top = 6, left = 150, bottom = 22;
  const laneTop = [];
  let y = top;
  for (const gid of lanes) { laneTop.push(y); y += slots.get(gid) * rowH + 8; }
  const width = canvas.clientWidth || 900;
  const height = y + bottom;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = width * dpr; canvas.height = height * dpr; canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const now = Date.now() / 1000 + state.clockOffset;
  const window_ = streamWindow(now);
  $("#window-label").textContent = window_;
  const t0 = now - window_, plotW = width - left - 10;
  const x = (t) => left + (t - t0) / window_ * plotW;
  ctx.font = "12px system-ui, sans-serif";
  lanes.forEach((gid, i) => {
    const h = slots.get(gid) * rowH + 4;
    ctx.fillStyle = i % 2 ? "#fbfcfd" : "#f3f6f9";
    ctx.fillRect(left, laneTop[i], plotW, h);
    ctx.fillStyle = "#1d2733";
    ctx.textBaseline = "middle";
    ctx.fillText(gid, 8, laneTop[i] + h / 2);
  });
  const seen = new Map();
  const rowEnds = new Map(lanes.map((gid) => [gid, new Array(slots.get(gid)).fill(-Infinity)]));
  let drawn = 0;
  const visible = state.stream.filter((t) => t[5] != null && t[5] + t[6] >= t0).sort((a, b) => a[5] - b[5]);
  for (const t of visible) {
    const [, gid, type, , , start, duration, failed] = t;
    const lane = lanes.indexOf(gid);
    if (lane < 0) continue;
    const ends = rowEnds.get(gid);
    let row = ends.findIndex((end) => end <= start);
    if (row < 0) row = ends.indexOf(Math.min(...ends));
    ends[row] = start + duration;
    const x0 = Math.max(left, x(start)), x1 = Math.max(x0 + 1.5, x(start + duration) - 1);
    ctx.fillStyle = failed ? "#d1453b" : color(type);
    ctx.fillRect(x0, laneTop[lane] + 3 + row * rowH, Math.min(x1, left + plotW) - x0, rowH - 3);
    seen.set(type, (seen.get(type) || 0) + 1);
    drawn++;
  }
  // time axis
  const axisY = y;
  ctx.strokeStyle = "#9aa6b2"; ctx.fillStyle = "#6b7785"; ctx.textBaseline = "top";
  ctx.beginPath(); ctx.moveTo(left, axisY + 0.5); ctx.lineTo(left + plotW, axisY + 0.5); ctx.stroke();
  const step = window_ / 6;
  for (let s = 0; s <= window_ + 1e-9; s += step) {
    const px = left + (1 - s / window_) * plotW;
    ctx.beginPath(); ctx.moveTo(px + 0.5, axisY); ctx.lineTo(px + 0.5, axisY + 4); ctx.stroke();
    const label = s === 0 ? "now" : `-${+s.toFixed(1)} s`;
    ctx.textAlign = s === 0 ? "right" : "center";
    ctx.fillText(label, px, axisY + 6);
  }
  ctx.textAlign = "left";
  canvas.dataset.tasks = String(drawn);
  const legend = [...seen.entries()].sort().map(([type, n]) =>
    `<li data-type="${esc(type)}"><span class="swatch" style="background:${color(type)}"></span>${esc(type)} <span class="hint">${fmtInt(n)}</span></li>`);
  if (state.stream.some((t) => t[7])) legend.push(`<li><span class="swatch" style="background:#d1453b"></span>failed</li>`);
  $("#legend").innerHTML = legend.join("") || `<li class="hint">no task finished in the last ${window_} s</li>`;
}

function streamWindow(now) {
  // Zoom to what happened (at least 6 s, at most WINDOW_S), in whole steps of 6 s.
  let first = now;
  for (const t of state.stream) if (t[5] != null && t[5] < first) first = t[5];
  return Math.min(WINDOW_S, Math.max(6, Math.ceil((now - first) * 1.25 / 6) * 6));
}

// --- session page -------------------------------------------------------------------------

const graphCache = {session: null, data: null, fetched: 0};

async function renderSession(sessionId, first) {
  const s = await getJSON(`/api/sessions/${sessionId}`);
  $("#crumbs").innerHTML = `/ session ${sessionId}`;
  $("#session-title").innerHTML = `Session ${s.session_id}: ${esc(s.name)} ${statusPill(s)}`;
  $("#session-summary").innerHTML = `<p>${bar(s.finished, s.submitted, s.failed)}` +
    `<span class="bar-label progress-text">${fmtInt(s.finished)} / ${fmtInt(s.submitted)} tasks finished, ${fmtInt(s.failed)} failed</span></p>`;
  const err = $("#session-error");
  err.hidden = !s.error;
  err.innerHTML = s.error ? esc(s.error) + (s.failed_task != null
    ? `\n<a href="#/task/${s.session_id}/${s.failed_task}">inspect task ${s.failed_task}</a>` : "") : "";
  $("#session-types tbody").innerHTML = Object.entries(s.types).map(([name, t]) =>
    `<tr><td><span class="swatch" style="background:${color(name)}"></span> ${esc(name)}</td>` +
    `<td>${bar(t.finished, t.submitted, t.failed)}<span class="bar-label">${fmtInt(t.finished)} / ${fmtInt(t.submitted)}</span></td>` +
    `<td class="num">${fmtInt(t.failed)}</td><td class="num">${fmtDuration(t.mean_duration)}</td>` +
    `<td class="num">${fmtDuration(t.max_duration)}</td></tr>`).join("");
  // The graph is fetched when the page opens; a small one (drawn task by task) again every 5 s
  // while the session runs. A grouped one is not fetched again: its walk costs O(graph).
  const small = graphCache.data && graphCache.data.mode === "tasks";
  const stale = small && Date.now() - graphCache.fetched > 5000 && s.status === "running";
  if (!s.live) {
    $("#graph-note").textContent = "the session is closed: its graph is gone";
    $("#graph").innerHTML = "";
    return;
  }
  if (first || graphCache.session !== sessionId || stale) {
    graphCache.session = sessionId;
    graphCache.fetched = Date.now();
    graphCache.data = await getJSON(`/api/sessions/${sessionId}/graph`);
    drawGraph(sessionId, graphCache.data);
  }
}

const STATE_COLORS = {finished: "#2e9e6a", failed: "#d1453b", running: "#2f6fdf", assigned: "#6fa0ef",
                      ready: "#e0a42b", not_assigned: "#c5ccd4", unfinished: "#c5ccd4", removed: "#9aa6b2"};

function drawGraph(sessionId, g) {
  if (g.mode === "types") return drawGroupedGraph(g);
  $("#graph-note").textContent = `${fmtInt(g.tasks.length)} tasks, ${fmtInt(g.objects.length)} objects; click a task to inspect it`;
  // layers: a task is one layer right of the producers of its inputs
  const producer = new Map(g.outputs.map(([task, obj]) => [obj, task]));
  const inputsOf = new Map();
  for (const [obj, task] of g.inputs) {
    if (!inputsOf.has(task)) inputsOf.set(task, []);
    inputsOf.get(task).push(obj);
  }
  const layer = new Map();
  const tasks = [...g.tasks].sort((a, b) => a[0] - b[0]);
  const layerOf = (id, depth = 0) => {
    if (layer.has(id)) return layer.get(id);
    if (depth > 500) return 0;
    let l = 0;
    for (const obj of inputsOf.get(id) || []) {
      const p = producer.get(obj);
      if (p != null) l = Math.max(l, layerOf(p, depth + 1) + 1);
    }
    layer.set(id, l);
    return l;
  };
  tasks.forEach((t) => layerOf(t[0]));
  const columns = [];
  for (const t of tasks) {
    const l = layer.get(t[0]);
    (columns[l] = columns[l] || []).push(t);
  }
  const colW = 150, rowH = 30, pad = 20;
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((t, r) => pos.set(t[0], [pad + c * colW, pad + r * rowH])));
  const width = pad * 2 + Math.max(1, columns.length) * colW;
  const height = pad * 2 + Math.max(1, ...columns.map((c) => c.length)) * rowH;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#9aa6b2"/></marker></defs>`];
  for (const [obj, task] of g.inputs) {
    const p = producer.get(obj);
    if (p == null || !pos.has(p) || !pos.has(task)) continue;
    const [x1, y1] = pos.get(p), [x2, y2] = pos.get(task);
    parts.push(`<line x1="${x1 + 118}" y1="${y1 + 10}" x2="${x2 - 2}" y2="${y2 + 10}" stroke="#b6c0ca" marker-end="url(#arrow)"/>`);
  }
  for (const [id, type, name, st] of tasks) {
    const [x, y] = pos.get(id);
    const label = (name || shortType(type)).slice(0, 16);
    parts.push(`<g class="node" data-task="${id}" onclick="location.hash='#/task/${sessionId}/${id}'">` +
      `<title>task ${id} ${esc(name || "")} (${esc(type)}): ${st}</title>` +
      `<rect x="${x}" y="${y}" width="116" height="20" rx="4" fill="#fff" stroke="${color(type)}" stroke-width="2"/>` +
      `<rect x="${x}" y="${y}" width="6" height="20" rx="2" fill="${STATE_COLORS[st] || "#999"}"/>` +
      `<text x="${x + 11}" y="${y + 14}">${esc(label)}</text></g>`);
  }
  parts.push("</svg>");
  $("#graph").innerHTML = parts.join("");
  graphLegend(new Set(tasks.map((t) => t[1])));
}

function drawGroupedGraph(g) {
  $("#graph-note").textContent = `${fmtInt(g.tasks)} tasks and ${fmtInt(g.objects)} objects, grouped by task type`;
  const names = ["(constant data)", ...g.types.map((t) => t.task_type)];
  const boxW = 230, boxH = 64, gap = 90, pad = 40;
  const width = pad * 2 + names.length * (boxW + gap);
  const height = boxH + pad * 2;
  const x = (name) => pad + names.indexOf(name) * (boxW + gap);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<defs><marker id="arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#9aa6b2"/></marker></defs>`];
  for (const [src, dst, count] of g.flows) {
    const x1 = x(src) + boxW, x2 = x(dst);
    const y = pad + boxH / 2;
    if (src === dst) {
      parts.push(`<path d="M${x1 - 40},${pad} C${x1 - 40},${pad - 18} ${x1 - 10},${pad - 18} ${x1 - 10},${pad}" fill="none" stroke="#9aa6b2" marker-end="url(#arrow)"/>`);
      parts.push(`<text x="${x1 - 60}" y="${pad - 8}">${fmtInt(count)}</text>`);
      continue;
    }
    parts.push(`<line x1="${x1}" y1="${y}" x2="${x2 - 2}" y2="${y}" stroke="#9aa6b2" stroke-width="2" marker-end="url(#arrow)"/>`);
    parts.push(`<text x="${(x1 + x2) / 2 - 20}" y="${y - 6}">${fmtInt(count)}</text>`);
  }
  parts.push(`<g><rect x="${x(names[0])}" y="${pad}" width="${boxW}" height="${boxH}" rx="6" fill="#f3f6f9" stroke="#c5ccd4"/>` +
    `<text x="${x(names[0]) + 10}" y="${pad + 24}">constant data</text></g>`);
  for (const t of g.types) {
    const bx = x(t.task_type);
    const done = t.states.finished || 0;
    parts.push(`<g><rect x="${bx}" y="${pad}" width="${boxW}" height="${boxH}" rx="6" fill="#fff" stroke="${color(t.task_type)}" stroke-width="2"/>` +
      `<text x="${bx + 10}" y="${pad + 20}" font-weight="600">${esc(t.task_type)}</text>` +
      `<text x="${bx + 10}" y="${pad + 38}">${fmtInt(t.count)} tasks, ${fmtInt(done)} finished</text>` +
      `<rect x="${bx + 10}" y="${pad + 46}" width="${boxW - 20}" height="8" fill="#e9edf2"/>` +
      `<rect x="${bx + 10}" y="${pad + 46}" width="${(boxW - 20) * done / Math.max(1, t.count)}" height="8" fill="#2e9e6a"/></g>`);
  }
  parts.push("</svg>");
  $("#graph").innerHTML = parts.join("");
  graphLegend(new Set(g.types.map((t) => t.task_type)));
}

function graphLegend(types) {
  const items = [...types].sort().map((t) => `<li><span class="swatch" style="background:${color(t)}"></span>${esc(t)}</li>`);
  for (const st of ["not_assigned", "ready", "assigned", "finished", "failed"]) {
    items.push(`<li><span class="swatch" style="background:${STATE_COLORS[st]}"></span>${st.replace("_", " ")}</li>`);
  }
  $("#graph-legend").innerHTML = items.join("");
}

// --- task inspector -----------------------------------------------------------------------

async function renderTask(sessionId, taskId) {
  $("#crumbs").innerHTML = `/ <a href="#/session/${sessionId}">session ${sessionId}</a> / task ${taskId}`;
  let t;
  try {
    t = await getJSON(`/api/sessions/${sessionId}/tasks/${taskId}`);
  } catch (err) {
    $("#task-title").textContent = `Task ${taskId}`;
    $("#task-facts").innerHTML = `<dt>not available</dt><dd>${esc(err.message)}</dd>`;
    return;
  }
  const info = t.info || {};
  $("#task-title").innerHTML = `Task ${t.task_id}${t.name ? ": " + esc(t.name) : ""} <span class="pill ${t.state === "failed" ? "failed" : t.state === "finished" ? "idle" : "running"}">${t.state}</span>`;
  const facts = [["task type", t.task_type], ["session", t.session_id], ["governor", t.governor || "–"],
    ["CPUs", t.spec.resources.cpus], ["started", info.start_time ? new Date(info.start_time * 1000).toLocaleTimeString() : "–"],
    ["duration", fmtDuration(info.duration)]];
  $("#task-facts").innerHTML = facts.map(([k, v]) => `<dt>${k}</dt><dd>${esc(v)}</dd>`).join("");
  const err = $("#task-error");
  err.hidden = !info.error;
  err.textContent = info.error || "";
  const objRow = (o) => `<tr><td class="num">${o.id}</td><td>${esc(o.label ?? "")}</td><td>${esc(o.state ?? "")}</td><td class="num">${fmtBytes(o.size)}</td></tr>`;
  $("#task-inputs tbody").innerHTML = t.inputs.map(objRow).join("") || `<tr><td class="empty">none</td></tr>`;
  $("#task-outputs tbody").innerHTML = t.outputs.map(objRow).join("") || `<tr><td class="empty">none</td></tr>`;
  const pre = (sel, text) => { const el = $(sel); el.textContent = text || "(empty)"; el.className = text ? "" : "none"; };
  pre("#task-config", t.spec.config == null ? "" : JSON.stringify(t.spec.config, null, 2));
  pre("#task-debug", info.debug);
  pre("#task-stdout", t.output_tails && t.output_tails.stdout);
  pre("#task-stderr", t.output_tails && t.output_tails.stderr);
}

// --- routing ------------------------------------------------------------------------------

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (parts[0] === "session" && parts[1]) return {page: "session", session: Number(parts[1])};
  if (parts[0] === "task" && parts[2]) return {page: "task", session: Number(parts[1]), task: Number(parts[2])};
  return {page: "overview"};
}

async function route() {
  state.route = parseRoute();
  for (const page of ["overview", "session", "task"]) $(`#${page}-page`).hidden = state.route.page !== page;
  if (state.route.page === "overview") $("#crumbs").innerHTML = "";
  if (state.route.page === "session") {
    graphCache.session = null;
    try { await renderSession(state.route.session, true); } catch (err) { $("#session-title").textContent = err.message; }
  }
  if (state.route.page === "task") await renderTask(state.route.session, state.route.task);
  await tick();
}

$("#window-label").textContent = WINDOW_S;
window.addEventListener("hashchange", route);
window.addEventListener("resize", () => { if (state.route.page === "overview") renderStream(); });
route();
state.timer = setInterval(tick, POLL_MS);
