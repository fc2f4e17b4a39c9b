// Kiln's web dashboard: plain JavaScript over kiln serve's JSON API and live events.
"use strict";

const $ = (selector) => document.querySelector(selector);
const PALETTE = ["#e8590c", "#1c7ed6", "#2f9e44", "#ae3ec9", "#f59f00", "#0ca678",
  "#d6336c", "#4263eb", "#74b816", "#f76707", "#1098ad", "#7048e8"];

const state = {
  project: null,
  token: null,
  writes: false,
  runs: [],
  studies: [],
  datasets: [],
  sort: { key: "id", dir: -1 },
  filter: "",
  generation: -1,
  live: { study: null, key: null, series: new Map(), pending: new Map() },
  stream: null,
  jobs: null,
};

// ---- Token, requests and notices -------------------------------------------------------

function tokenKey() { return "kiln.token." + location.host; }

function readFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    localStorage.setItem(tokenKey(), token);
  }
  if (location.hash) {
    // The token never stays in the address bar or the history.
    history.replaceState(null, "", location.pathname + (params.get("project") ? "#project=" + params.get("project") : ""));
  }
  state.token = localStorage.getItem(tokenKey());
  return params.get("project");
}

function authHeaders(extra) {
  const headers = Object.assign({}, extra || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  return headers;
}

async function api(path, options) {
  options = options || {};
  const response = await fetch("/api" + path, Object.assign({}, options, { headers: authHeaders(options.headers) }));
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) {
    askToken((body && body.error) || "this server needs its token");
  }
  if (!response.ok) {
    throw new Error((body && body.error) || response.status + " " + response.statusText);
  }
  return body;
}

let noticeTimer = null;
function notice(message, good) {
  const box = $("#notice");
  box.textContent = message;
  box.classList.toggle("good", Boolean(good));
  box.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

function askToken(why) {
  const dialog = $("#token-dialog");
  if (why) notice(why);
  if (!dialog.open) {
    $("#token-input").value = state.token || "";
    dialog.showModal();
  }
}

function saveToken() {
  const token = $("#token-input").value.trim();
  if (token) localStorage.setItem(tokenKey(), token); else localStorage.removeItem(tokenKey());
  state.token = token || null;
  // Before a token the server may not even have listed its projects.
  if (state.project) openProject(state.project); else start(null);
}

// ---- Theme and tabs --------------------------------------------------------------------

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("#theme").textContent = theme === "dark" ? "Light" : "Dark";
  localStorage.setItem("kiln.theme", theme);
  drawLive();
  drawParallel();
}

function showTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const section of document.querySelectorAll(".tab")) {
    section.hidden = section.id !== "tab-" + name;
  }
  if (name === "live") drawLive();
  if (name === "parallel") drawParallel();
  if (name === "models") loadModels();
}

function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

// ---- Formatting ------------------------------------------------------------------------

function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e15) return value.toLocaleString("en");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return value.toPrecision(4).replace(/\.?0+$/, "");
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// ---- Projects --------------------------------------------------------------------------

async function init() {
  const wanted = readFragment();
  applyTheme(localStorage.getItem("kiln.theme") ||
    (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  $("#theme").addEventListener("click", () =>
    applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
  $("#token-button").addEventListener("click", () => askToken());
  $("#token-save").addEventListener("click", saveToken);
  $("#filter").addEventListener("input", (e) => { state.filter = e.target.value; renderRuns(); });
  $("#project").addEventListener("change", (e) => openProject(e.target.value));
  $("#study").addEventListener("change", (e) => { state.live.study = Number(e.target.value); loadLive(true); });
  $("#metric").addEventListener("change", (e) => { state.live.key = e.target.value; loadLive(false); });
  $("#pc-metric").addEventListener("change", drawParallel);
  $("#study-form").addEventListener("submit", startStudy);
  window.addEventListener("resize", () => { drawLive(); drawParallel(); });
  start(wanted);
}

/// Lists the server's projects and opens the one asked for, or the first.
async function start(wanted) {
  let about;
  try {
    about = await api("/");
  } catch (e) {
    notice("Cannot read the server: " + e.message);
    return;
  }
  state.writes = about.writes;
  const select = $("#project");
  select.replaceChildren(...about.projects.map((p) => el("option", { value: p.id }, p.name + " (" + p.file + ")")));
  const first = about.projects.find((p) => p.id === wanted) || about.projects[0];
  if (first) {
    select.value = first.id;
    openProject(first.id);
  }
}

async function openProject(id) {
  if (!id) return;
  state.project = id;
  state.generation = -1;
  state.live = { study: null, key: null, series: new Map(), pending: new Map() };
  try {
    await refresh();
  } catch (e) {
    notice(e.message);
    return;
  }
  follow();
}

/// Re-reads the lists (after a `changed` event).
async function refresh() {
  const id = state.project;
  const [project, runs, datasets] = await Promise.all([
    api(`/projects/${id}`), api(`/projects/${id}/runs`), api(`/projects/${id}/datasets`),
  ]);
  if (id !== state.project) return;
  state.generation = project.changed.generation;
  state.studies = project.changed.studies;
  state.runs = runs.runs;
  state.datasets = datasets;
  state.writes = project.writes;
  renderJobs(project.jobs);
  $("#writes").hidden = !state.writes;
  $("#study-dataset").replaceChildren(...datasets.map((d) => el("option", { value: d.name }, d.name)));
  renderRuns();
  renderStudies();
  fillParallelMetrics();
  drawParallel();
}

// ---- Live events -----------------------------------------------------------------------

function setLive(on, text) {
  const pill = $("#live-state");
  pill.textContent = text;
  pill.className = "pill " + (on ? "on" : "off");
}

/// Follows the project's events through fetch (so that the token goes in a header, never in
/// the URL), reconnecting after a pause when the stream ends.
async function follow() {
  const project = state.project;
  if (state.stream) state.stream.abort();
  const controller = new AbortController();
  state.stream = controller;
  try {
    const response = await fetch(`/api/projects/${project}/events`, { headers: authHeaders(), signal: controller.signal });
    if (response.status === 401) { askToken("following live needs the token"); setLive(false, "no token"); return; }
    if (!response.ok) throw new Error(response.status + " " + response.statusText);
    setLive(true, "live");
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trimStart();
        }
        if (data) onEvent(name, JSON.parse(data));
      }
    }
  } catch (e) {
    if (controller.signal.aborted) return;
  }
  if (state.stream === controller && !controller.signal.aborted) {
    setLive(false, "reconnecting");
    setTimeout(() => { if (state.stream === controller) follow(); }, 1500);
  }
}

let refreshTimer = null;
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    try { await refresh(); } catch (e) { notice(e.message); }
  }, 300);
}

function onEvent(name, data) {
  if (name === "points") {
    let changed = false;
    for (const p of data.points) {
      if (p.key !== state.live.key) continue;
      const series = state.live.series.get(p.run);
      const point = [p.step, p.value === null ? NaN : p.value];
      if (series) { pushPoint(series, point); changed = true; }
      else {
        // Held for a run of the study shown that the lists do not have yet; others are dropped.
        const known = state.runs.find((r) => r.run.id === p.run);
        if (known && known.run.study_id !== state.live.study) continue;
        const pending = state.live.pending.get(p.run) || [];
        pending.push(point);
        state.live.pending.set(p.run, pending);
      }
    }
    if (changed) drawLiveSoon();
  } else if (name === "changed") {
    if (data.generation !== state.generation) refreshSoon();
  } else if (name === "jobs") {
    renderJobs(data);
  } else if (name === "job") {
    const event = data.event;
    if (event.event === "study_started" || event.event === "trial_started" || event.event === "study_finished") refreshSoon();
  } else if (name === "hello") {
    if (data.changed.generation !== state.generation) refreshSoon();
    if (data.jobs) renderJobs(data.jobs);
    // Points committed before this stream began are read with the charts, again.
    loadLive(true);
  } else if (name === "resync") {
    loadLive(true);
  } else if (name === "failure") {
    notice(data.error);
  }
}

function pushPoint(series, point) {
  const points = series.points;
  // A step logged again (a resumed run) replaces the tail from there.
  while (points.length && points[points.length - 1][0] > point[0]) points.pop();
  points.push(point);
  series.total += 1;
}

// ---- Runs table ------------------------------------------------------------------------

function runColumns() {
  const params = new Set();
  const metrics = new Set();
  for (const row of state.runs) {
    for (const [key] of row.params) params.add(key);
    for (const m of row.metrics) metrics.add(m.key);
  }
  const base = [
    { key: "id", label: "Run", value: (r) => r.run.id, num: true },
    { key: "name", label: "Name", value: (r) => r.run.name },
    { key: "study", label: "Study", value: (r) => r.run.study ? `#${r.run.study_id} ${r.run.study}` : "" },
    { key: "status", label: "Status", value: (r) => r.run.status },
  ];
  const paramColumns = [...params].sort().slice(0, 12).map((key) => ({
    key: "param:" + key, label: key, num: true,
    value: (r) => { const p = r.params.find(([k]) => k === key); if (!p) return null; const n = Number(p[1]); return Number.isFinite(n) && p[1] !== "" ? n : p[1]; },
  }));
  const preferred = [...metrics].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).slice(0, 8);
  const metricColumns = preferred.map((key) => ({
    key: "metric:" + key, label: key, num: true,
    value: (r) => { const m = r.metrics.find((x) => x.key === key); return m ? m.last : null; },
  }));
  return base.concat(paramColumns, metricColumns);
}

function rank(key) {
  if (key.startsWith("test/")) return 0;
  if (key.startsWith("val/")) return 1;
  if (key.startsWith("train/")) return 2;
  return 3;
}

function compare(a, b) {
  if (a === null || a === undefined) return b === null || b === undefined ? 0 : 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), "en", { numeric: true });
}

function renderRuns() {
  const columns = runColumns();
  const words = state.filter.toLowerCase().split(/\s+/).filter(Boolean);
  const text = (row) => [row.run.name, row.run.study || "", row.run.status, row.run.device || "",
    ...row.params.map(([k, v]) => k + "=" + v)].join(" ").toLowerCase();
  let rows = state.runs.filter((row) => { const t = text(row); return words.every((w) => t.includes(w)); });
  const column = columns.find((c) => c.key === state.sort.key) || columns[0];
  rows = rows.slice().sort((a, b) => {
    const va = column.value(a), vb = column.value(b);
    // Runs without a value stay last either way.
    if (va === null || va === undefined) return vb === null || vb === undefined ? 0 : 1;
    if (vb === null || vb === undefined) return -1;
    return state.sort.dir * compare(va, vb);
  });
  const head = el("tr", {}, ...columns.map((c) => {
    const th = el("th", { "data-key": c.key, title: "Sort by " + c.label }, c.label);
    if (c.key === column.key) th.className = state.sort.dir > 0 ? "sorted-asc" : "sorted-desc";
    th.addEventListener("click", () => {
      state.sort = { key: c.key, dir: state.sort.key === c.key ? -state.sort.dir : (c.num ? -1 : 1) };
      renderRuns();
    });
    return th;
  }));
  $("#runs thead").replaceChildren(head);
  const shown = rows.slice(0, 2000);
  $("#runs tbody").replaceChildren(...shown.map((row) => el("tr", { "data-run": row.run.id },
    ...columns.map((c) => {
      const v = c.value(row);
      const cell = el("td", { class: typeof v === "number" ? "num" : "" }, typeof v === "number" ? fmt(v) : (v ?? ""));
      if (c.key === "status") cell.className = "status-" + v;
      return cell;
    }))));
  $("#run-count").textContent = rows.length === state.runs.length
    ? `${state.runs.length.toLocaleString("en")} runs`
    : `${rows.length.toLocaleString("en")} of ${state.runs.length.toLocaleString("en")} runs`
      + (rows.length > shown.length ? ` (first ${shown.length} shown)` : "");
}

// ---- Live chart ------------------------------------------------------------------------

function renderStudies() {
  const select = $("#study");
  const studies = state.studies.slice().sort((a, b) => b.id - a.id);
  select.replaceChildren(...studies.map((s) => el("option", { value: s.id }, `#${s.id} ${s.name} (${s.status})`)));
  if (state.live.study === null || !studies.some((s) => s.id === state.live.study)) {
    const running = studies.find((s) => s.status === "running");
    state.live.study = running ? running.id : (studies[0] ? studies[0].id : null);
    state.live.key = null;
  }
  if (state.live.study !== null) select.value = String(state.live.study);
  const study = studies.find((s) => s.id === state.live.study);
  $("#study-state").textContent = study ? `${study.status}; ${study.strategy}; best by ${study.objective.key} (${study.objective.direction})` : "no study yet";
  loadLive(false);
}

function studyRuns() {
  const study = state.studies.find((s) => s.id === state.live.study);
  if (!study) return [];
  return state.runs.filter((r) => r.run.study_id === study.id);
}

let liveLoading = null;
/// Fetches the study's runs' histories (decimated for the canvas) for the runs not charted
/// yet, or all of them when `reset`.
async function loadLive(reset) {
  const study = state.studies.find((s) => s.id === state.live.study);
  if (!study) { state.live.series = new Map(); drawLive(); return; }
  const runs = studyRuns();
  const keys = new Set();
  for (const r of runs) for (const m of r.metrics) keys.add(m.key);
  if (!state.live.key) state.live.key = study.objective.key;
  keys.add(state.live.key);
  const metricSelect = $("#metric");
  metricSelect.replaceChildren(...[...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((k) => el("option", { value: k }, k)));
  metricSelect.value = state.live.key;
  const key = state.live.key;
  if (reset || metricSelect.dataset.key !== key) {
    state.live.series = new Map();
    state.live.pending = new Map();
    metricSelect.dataset.key = key;
  }
  const missing = runs.map((r) => r.run.id).filter((id) => !state.live.series.has(id));
  if (!missing.length) { drawLive(); return; }
  const width = Math.max(100, Math.round($("#chart").clientWidth || 960));
  const request = liveLoading = api(`/projects/${state.project}/chart?key=${encodeURIComponent(key)}&runs=${missing.join(",")}&width=${width}`);
  let chart;
  try { chart = await request; } catch (e) { notice(e.message); return; }
  if (request !== liveLoading || key !== state.live.key) return;
  for (const id of missing) {
    const line = chart.lines.find((l) => l.run === id);
    const series = { run: id, points: line ? line.points : [], total: line ? line.total : 0 };
    for (const point of state.live.pending.get(id) || []) pushPoint(series, point);
    state.live.pending.delete(id);
    state.live.series.set(id, series);
  }
  drawLive();
}

let drawPending = false;
function drawLiveSoon() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawLive(); });
}

function setupCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 960;
  const height = canvas.clientHeight || 380;
  if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
  if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  return { ctx, width, height };
}

function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / count)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => (hi - lo) / s <= count) || step * 10;
  const out = [];
  for (let v = Math.ceil(lo / nice) * nice; v <= hi + nice * 1e-9; v += nice) out.push(Math.abs(v) < nice * 1e-9 ? 0 : v);
  return out;
}

function drawLive() {
  const canvas = $("#chart");
  if (!canvas || canvas.offsetParent === null) return;
  const { ctx, width, height } = setupCanvas(canvas);
  const series = [...state.live.series.values()].filter((s) => s.points.length);
  let drawn = 0;
  for (const s of series) drawn += s.points.length;
  canvas.dataset.points = String(drawn);
  canvas.dataset.series = String(series.length);
  const muted = css("--muted"), line = css("--line");
  if (!series.length) {
    ctx.fillStyle = muted;
    ctx.fillText(state.live.study === null ? "No study yet." : "No points of " + (state.live.key || "this metric") + " yet.", 20, 30);
    $("#legend").replaceChildren();
    return;
  }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) for (const [x, y] of s.points) {
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (Number.isFinite(y)) { if (y < y0) y0 = y; if (y > y1) y1 = y; }
  }
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (!(y1 > y0)) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const left = 56, right = 12, top = 10, bottom = 26;
  const sx = (x) => left + (x - x0) / (x1 - x0) * (width - left - right);
  const sy = (y) => top + (1 - (y - y0) / (y1 - y0)) * (height - top - bottom);
  ctx.strokeStyle = line; ctx.fillStyle = muted; ctx.lineWidth = 1;
  for (const v of ticks(y0, y1, 6)) {
    ctx.beginPath(); ctx.moveTo(left, sy(v)); ctx.lineTo(width - right, sy(v)); ctx.stroke();
    ctx.fillText(fmt(v), 4, sy(v) + 4);
  }
  for (const v of ticks(x0, x1, 8)) ctx.fillText(fmt(v), sx(v) - 8, height - 8);
  series.sort((a, b) => a.run - b.run);
  series.forEach((s, i) => {
    ctx.strokeStyle = PALETTE[i % PALETTE.length];
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) { pen = false; continue; }
      if (pen) ctx.lineTo(sx(x), sy(y)); else ctx.moveTo(sx(x), sy(y));
      pen = true;
    }
    ctx.stroke();
  });
  $("#legend").replaceChildren(...series.slice(0, 40).map((s, i) => {
    const swatch = el("i");
    swatch.style.background = PALETTE[i % PALETTE.length];
    const last = s.points[s.points.length - 1];
    return el("span", {}, swatch, `run ${s.run}: ${fmt(last[1])} at ${fmt(last[0])}`);
  }));
}

// ---- Writes: studies and jobs ----------------------------------------------------------

async function startStudy(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {
    dataset: form.get("dataset"), model: form.get("model"), strategy: form.get("strategy"),
    device: form.get("device"), space: form.get("space"),
  };
  try {
    const job = await api(`/projects/${state.project}/studies`, {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    notice(`Queued job ${job.ticket}: ${job.title}`, true);
    state.live.study = null;
  } catch (e) {
    notice("The study was not started: " + e.message);
  }
}

async function cancelJob(ticket) {
  try {
    await api(`/projects/${state.project}/jobs/${ticket}/cancel`, { method: "POST" });
  } catch (e) {
    notice(e.message);
  }
}

let jobsShown = null;
function renderJobs(view) {
  // Drawn anew only when it changed: a Cancel button must stay under the pointer.
  const shown = JSON.stringify(view === undefined ? null : view);
  if (shown === jobsShown) return;
  jobsShown = shown;
  state.jobs = view;
  const body = $("#jobs tbody");
  if (!view) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "This server is read-only: jobs run where the project is written.")));
    return;
  }
  const rows = [];
  const add = (job) => rows.push(el("tr", { "data-ticket": job.ticket }, el("td", {}, job.ticket), el("td", {}, job.title),
    el("td", { class: "status-" + (job.state === "done" ? "finished" : job.state) }, job.state + (job.message ? ": " + job.message : "")),
    el("td", {}, (job.state === "queued" || (job.state === "running" && job.cancellable))
      ? el("button", { onclick: () => cancelJob(job.ticket) }, "Cancel") : "")));
  if (view.running) add(view.running);
  view.queued.forEach(add);
  view.ended.forEach(add);
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "4", class: "muted" }, "No jobs yet.")));
  body.replaceChildren(...rows);
}

// ---- Parallel coordinates --------------------------------------------------------------

function fillParallelMetrics() {
  const keys = new Set();
  for (const r of state.runs) for (const m of r.metrics) keys.add(m.key);
  const select = $("#pc-metric");
  const current = select.value;
  select.replaceChildren(...[...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((k) => el("option", { value: k }, k)));
  const objective = state.studies.length ? state.studies[state.studies.length - 1].objective.key : null;
  select.value = keys.has(current) ? current : (objective && keys.has(objective) ? objective : select.value);
}

function drawParallel() {
  const canvas = $("#parallel");
  if (!canvas || canvas.offsetParent === null) return;
  const { ctx, width, height } = setupCanvas(canvas);
  const key = $("#pc-metric").value;
  const maximize = !/loss|error/.test(key);
  const runs = state.runs.filter((r) => r.run.status === "finished" && r.metrics.some((m) => m.key === key));
  const params = new Map();
  for (const r of runs) for (const [k, v] of r.params) {
    const n = Number(v);
    if (v === "" || !Number.isFinite(n)) { params.set(k, null); continue; }
    if (params.get(k) === null) continue;
    const values = params.get(k) || new Set();
    values.add(n);
    params.set(k, values);
  }
  const axes = [...params.entries()].filter(([, v]) => v && v.size > 1).map(([k]) => k).sort();
  const value = (r, axis) => {
    if (axis === key) { const m = r.metrics.find((x) => x.key === key); return maximize ? m.max : m.min; }
    const p = r.params.find(([k]) => k === axis);
    return p ? Number(p[1]) : NaN;
  };
  axes.push(key);
  const muted = css("--muted"), text = css("--text");
  canvas.dataset.lines = String(runs.length);
  if (!runs.length) {
    ctx.fillStyle = muted;
    ctx.fillText("No finished run has logged " + (key || "a metric") + ".", 20, 30);
    return;
  }
  const ranges = axes.map((axis) => {
    let lo = Infinity, hi = -Infinity;
    for (const r of runs) { const v = value(r, axis); if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    const log = axis !== key && lo > 0 && hi / lo >= 100;
    return { lo, hi, log };
  });
  const left = 50, right = 70, top = 34, bottom = 30;
  const ax = (i) => axes.length === 1 ? width / 2 : left + i * (width - left - right) / (axes.length - 1);
  const ay = (i, v) => {
    const { lo, hi, log } = ranges[i];
    if (!(hi > lo)) return (top + height - bottom) / 2;
    const t = log ? (Math.log(v) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : (v - lo) / (hi - lo);
    return top + (1 - t) * (height - top - bottom);
  };
  const m = ranges[axes.length - 1];
  const order = runs.slice().sort((a, b) => (value(a, key) - value(b, key)) * (maximize ? 1 : -1));
  ctx.lineWidth = 1.2;
  for (const r of order) {
    const score = value(r, key);
    const t = m.hi > m.lo ? (score - m.lo) / (m.hi - m.lo) : 1;
    const good = maximize ? t : 1 - t;
    ctx.strokeStyle = `hsla(${220 - 200 * good}, 80%, 50%, ${0.25 + 0.65 * good})`;
    ctx.beginPath();
    axes.forEach((axis, i) => {
      const v = value(r, axis);
      if (!Number.isFinite(v)) return;
      if (i === 0) ctx.moveTo(ax(i), ay(i, v)); else ctx.lineTo(ax(i), ay(i, v));
    });
    ctx.stroke();
  }
  ctx.strokeStyle = muted; ctx.fillStyle = text;
  axes.forEach((axis, i) => {
    ctx.beginPath(); ctx.moveTo(ax(i), top); ctx.lineTo(ax(i), height - bottom); ctx.stroke();
    ctx.textAlign = "center";
    ctx.fillText(axis + (ranges[i].log ? " (log)" : ""), ax(i), 16);
    ctx.fillStyle = muted;
    ctx.fillText(fmt(ranges[i].hi), ax(i), top - 4);
    ctx.fillText(fmt(ranges[i].lo), ax(i), height - bottom + 14);
    ctx.fillStyle = text;
  });
  ctx.textAlign = "start";
}

// ---- Models ----------------------------------------------------------------------------

async function loadModels() {
  if (!state.project) return;
  let models;
  try { models = await api(`/projects/${state.project}/models`); } catch (e) { notice(e.message); return; }
  const list = $("#model-list");
  if (!models.length) { list.replaceChildren(el("p", { class: "muted" }, "No registered model yet.")); return; }
  const items = [];
  for (const model of models) {
    items.push(el("div", { class: "model" }, model.name));
    for (const v of model.versions.slice().sort((a, b) => b.version - a.version)) {
      const label = `version ${v.version}` + (v.aliases.length ? " @" + v.aliases.join(" @") : "") + ` (run ${v.run})`;
      items.push(el("button", { "data-model": model.name, "data-version": v.version, onclick: () => showVersion(model.name, v.version) }, label));
    }
  }
  list.replaceChildren(...items);
}

function markdown(text) {
  const out = [];
  let table = null;
  let list = null;
  const inline = (s) => {
    const node = el("span");
    s.split(/(`[^`]*`)/).forEach((part) => node.append(part.startsWith("`") && part.endsWith("`") && part.length > 1 ? el("code", {}, part.slice(1, -1)) : part));
    return node;
  };
  for (const line of text.split("\n")) {
    if (line.startsWith("|")) {
      const cells = line.split("|").slice(1, -1).map((c) => c.trim());
      if (cells.every((c) => /^-+$/.test(c))) continue;
      if (!table) { table = el("table"); out.push(table); table.append(el("tr", {}, ...cells.map((c) => el("th", {}, inline(c))))); }
      else table.append(el("tr", {}, ...cells.map((c) => el("td", {}, inline(c)))));
      continue;
    }
    table = null;
    if (line.startsWith("- ")) {
      if (!list) { list = el("ul"); out.push(list); }
      list.append(el("li", {}, inline(line.slice(2))));
      continue;
    }
    list = null;
    const heading = /^(#{1,3}) (.*)$/.exec(line);
    if (heading) out.push(el("h" + (heading[1].length + 1), {}, inline(heading[2])));
    else if (line.trim()) out.push(el("p", {}, inline(line)));
  }
  return out;
}

function reportTable(report) {
  const rows = Object.entries(report || {}).filter(([, v]) => typeof v === "number" || typeof v === "string");
  if (!rows.length) return el("pre", {}, JSON.stringify(report, null, 2).slice(0, 4000));
  return el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, typeof v === "number" ? fmt(v) : v))));
}

async function showVersion(model, version) {
  const detail = $("#model-detail");
  detail.replaceChildren(el("p", { class: "muted" }, "Reading…"));
  let v, m;
  try {
    [v, m] = await Promise.all([
      api(`/projects/${state.project}/models/${encodeURIComponent(model)}/versions/${version}`),
      api(`/projects/${state.project}/models/${encodeURIComponent(model)}`),
    ]);
  } catch (e) { detail.replaceChildren(el("p", {}, e.message)); return; }
  const parts = markdown(v.card);
  parts.push(el("h3", {}, "Evaluations"));
  let any = false;
  for (const [kind, reports] of Object.entries(v.evaluations)) {
    for (const r of reports) {
      any = true;
      parts.push(el("h4", {}, `${kind}: ${r.subject}`), reportTable(r.report));
    }
  }
  if (!any) parts.push(el("p", { class: "muted" }, "None yet: run kiln evaluate."));
  const exports = m.exports.filter((e) => e.version === version);
  parts.push(el("h3", {}, "Exports"));
  parts.push(exports.length
    ? el("ul", {}, ...exports.map((e) => el("li", {}, `${e.format} to ${e.target} on ${new Date(e.created_at).toLocaleString()}`)))
    : el("p", { class: "muted" }, "Not exported yet."));
  parts.push(el("h3", {}, "Monitoring"));
  const reports = (v.monitoring && v.monitoring.reports) || [];
  parts.push(reports.length
    ? el("ul", {}, ...reports.slice(-10).reverse().map((r) => el("li", {},
      `batch ${r.batch} (${fmt(r.rows)} rows): ${r.drift.drifted_columns} of ${r.drift.columns} columns drifted` +
      (r.drift.drifted ? " — dataset drift" : ""))))
    : el("p", { class: "muted" }, "No monitoring report yet."));
  parts.push(el("h3", {}, "Replays"));
  parts.push(m.replays.length
    ? el("ul", {}, ...m.replays.slice(0, 10).map((r) => el("li", {},
      `${r.mode} replay of ${fmt(r.rows)} rows, v${r.a.version} against v${r.b.version}: ${r.verdict.decision} — ${r.verdict.reason}`)))
    : el("p", { class: "muted" }, "No replay yet."));
  if (state.writes) {
    const alias = el("input", { placeholder: "alias, e.g. champion", size: "18", "aria-label": "Alias" });
    parts.push(el("h3", {}, "Change"), el("div", { class: "row" }, alias,
      el("button", { onclick: () => write(`/models/${encodeURIComponent(model)}/aliases/${encodeURIComponent(alias.value.trim())}`, "PUT", { version }) }, "Point alias here"),
      el("button", { onclick: () => write(`/models/${encodeURIComponent(model)}/exports`, "POST", { version }) }, "Export for Triton")));
  }
  detail.replaceChildren(...parts);
}

async function write(path, method, body) {
  try {
    const job = await api(`/projects/${state.project}${path}`, {
      method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    notice(`Queued job ${job.ticket}: ${job.title}`, true);
  } catch (e) {
    notice(e.message);
  }
}

init();
