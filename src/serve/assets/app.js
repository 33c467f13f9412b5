// The nas-actor dashboard: polls the server's JSON every second and redraws
// the view that is open. Children arrive incrementally (`children?from=K`),
// so a long run costs one full load and then only what is new.
"use strict";

const POLL_MS = 1000;
const TABLE_ROWS = 500;
const $ = (id) => document.getElementById(id);

const S = {
  run: 0,
  generation: null,
  rows: [],
  overview: null,
  metric: { name: "metric", higher_is_better: true },
  view: "overview",
  child: null,
  charts: {},
  sort: { key: "id", up: false },
  lastOk: 0,
  choicesAt: 0,
  compareAt: 0,
  tableDirty: true,
};

async function get(path) {
  const r = await fetch(path, { cache: "no-store", credentials: "same-origin" });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits === undefined ? 4 : digits);
}

function duration(s) {
  if (s === null || s === undefined) return "?";
  if (s < 1) return "0s";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + sec + "s";
  return sec + "s";
}

function api(rest) { return "/api/runs/" + S.run + rest; }

// ---- views and routing ----

function route() {
  const h = location.hash.replace(/^#/, "") || "overview";
  const m = h.match(/^child\/(\d+)$/);
  S.view = m ? "child" : h;
  if (!document.getElementById("view-" + S.view)) S.view = "overview";
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("on", v.id === "view-" + S.view);
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("on", a.dataset.view === S.view);
  if (m) { S.child = Number(m[1]); showChild(S.child); }
  S.choicesAt = 0; S.compareAt = 0; S.tableDirty = true;
  draw();
}

// ---- polling ----

async function loadRuns() {
  const runs = await get("/api/runs");
  const sel = $("run");
  sel.textContent = "";
  runs.forEach((r) => {
    const o = el("option", r.name + " (" + r.dir + ")");
    o.value = r.run;
    sel.appendChild(o);
  });
  const want = new URLSearchParams(location.search).get("run");
  if (want !== null && runs[Number(want)]) S.run = Number(want);
  sel.value = S.run;
  sel.onchange = () => { S.run = Number(sel.value); reset(); poll(true); };
}

function reset() {
  S.rows = []; S.generation = null; S.overview = null; S.tableDirty = true;
  for (const k of Object.keys(S.charts)) { S.charts[k].destroy(); delete S.charts[k]; }
}

let polling = false;
async function poll(once) {
  if (polling) return;
  polling = true;
  try {
    const ov = await get(api("/overview"));
    if (S.generation !== null && ov.generation !== S.generation) reset();
    S.overview = ov;
    S.metric = ov.metric;
    let grew = false;
    for (;;) {
      const page = await get(api("/children?from=" + S.rows.length));
      if (S.generation !== null && page.generation !== S.generation) { reset(); continue; }
      S.generation = page.generation;
      if (page.children.length) { S.rows.push(...page.children); grew = true; }
      if (S.rows.length >= page.total || !page.children.length) break;
    }
    if (grew) S.tableDirty = true;
    S.lastOk = Date.now();
    draw();
  } catch (e) {
    $("live").textContent = "no answer: " + e.message;
  } finally {
    polling = false;
    if (!once) setTimeout(() => poll(false), POLL_MS);
  }
}

setInterval(() => {
  if (S.lastOk) $("live").textContent = "live · updated " + Math.round((Date.now() - S.lastOk) / 1000) + "s ago";
}, 1000);

function draw() {
  if (!S.overview) return;
  if (S.view === "overview") drawOverview();
  else if (S.view === "rewards") drawRewards();
  else if (S.view === "children") drawTable();
  else if (S.view === "curves") drawCurves();
  else if (S.view === "choices") drawChoices();
  else if (S.view === "compare") drawCompare();
}

// ---- overview ----

function fillTable(tbody, rows) {
  tbody.textContent = "";
  for (const cells of rows) {
    const tr = el("tr");
    for (const c of cells) {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
      else tr.appendChild(el("td", c));
    }
    tbody.appendChild(tr);
  }
}

function drawOverview() {
  const o = S.overview;
  $("done").textContent = o.done;
  $("budget").textContent = o.budget === null ? "?" : o.budget;
  $("progress").firstElementChild.style.width = o.budget ? Math.min(100, 100 * o.done / o.budget) + "%" : "0";
  $("state").textContent = o.state;
  $("rate").textContent = o.rate ? (o.rate * 60).toFixed(1) + " children/min" : "";
  $("eta").textContent = o.state === "going" ? duration(o.eta_seconds) : "–";
  $("last").textContent = o.last_child_age === null ? "" : "last child " + duration(o.last_child_age) + " ago";
  $("metric-name").textContent = o.metric.name + (o.metric.higher_is_better ? " ↑" : " ↓");
  const best = o.best;
  $("best-metric").textContent = best ? (best.metric_text || num(best.metric)) : "–";
  $("best-metric").dataset.value = best && best.metric !== null ? best.metric : "";
  $("best-id").textContent = best ? best.id : "–";
  $("best-id").href = best ? "#child/" + best.id : "#overview";
  $("best-arch").textContent = best ? best.arch : "";
  $("strategy").textContent = o.strategy || "?";
  $("updates").textContent = o.updates ? o.updates + " controller updates, baseline " + num(o.baseline) : "";
  const sl = o.slots;
  $("slots-note").textContent = sl.source === "run"
    ? "(as of " + duration(sl.age) + " ago)"
    : "(this run writes no slots.json: last child per slot from the log)";
  fillTable($("slots").tBodies[0], sl.slots.map((s) => {
    const state = el("span", s.state, s.state === "running" ? "running" : "");
    let child = "–";
    if (s.child !== null) { child = el("a", s.child); child.href = "#child/" + s.child; }
    const epoch = s.epoch === null ? "–" : s.epoch + (sl.child_epochs ? "/" + sl.child_epochs : "");
    return [s.label, state, child, epoch, s.text];
  }));
  fillTable($("statuses").tBodies[0], Object.entries(o.statuses).map(([k, v]) => [el("span", k, "st-" + k), v]));
  const f = Object.entries(o.failures);
  fillTable($("failures").tBodies[0], f.length ? f : [["none", ""]]);
  const c = o.compute;
  $("compute").textContent = c.child_epochs_full
    ? c.child_epochs + " child-epochs of " + c.child_epochs_full + " (" + c.stopped + " stopped early), " + duration(c.child_seconds) + " child time"
    : duration(c.child_seconds) + " child time for " + c.trained + " trained children";
  const ul = $("notices");
  ul.textContent = "";
  for (const n of o.notices) ul.appendChild(el("li", n));
  metricChart("overview-chart", 260, false);
}

// ---- metric and reward over children (uPlot) ----

function seriesData() {
  const n = S.rows.length;
  const x = new Array(n), metric = new Array(n), reward = new Array(n), best = new Array(n);
  let b = null;
  const up = S.metric.higher_is_better;
  for (let i = 0; i < n; i++) {
    const r = S.rows[i];
    x[i] = i + 1;
    metric[i] = r.metric;
    reward[i] = r.reward;
    if (r.metric !== null && (r.status === "ok" || r.status === "cached" || r.status === "stopped")) {
      if (b === null || (up ? r.metric > b : r.metric < b)) b = r.metric;
    }
    best[i] = b;
  }
  return [x, metric, best, reward];
}

function tipPlugin() {
  const tip = $("tip");
  return {
    hooks: {
      setCursor: (u) => {
        const i = u.cursor.idx;
        if (i === null || i === undefined || !S.rows[i] || u.cursor.left < 0) { tip.style.display = "none"; return; }
        const r = S.rows[i];
        tip.textContent = "child " + r.id + " · " + r.status + " · " + S.metric.name + " " + num(r.metric) + " · reward " + num(r.reward) + "\n" + r.arch;
        const box = u.over.getBoundingClientRect();
        tip.style.left = Math.min(box.left + u.cursor.left + 12, window.innerWidth - 420) + "px";
        tip.style.top = (box.top + u.cursor.top + 12) + "px";
        tip.style.display = "block";
        tip.style.whiteSpace = "pre-wrap";
      },
      ready: (u) => {
        u.over.addEventListener("click", () => {
          const i = u.cursor.idx;
          if (i !== null && i !== undefined && S.rows[i]) location.hash = "#child/" + S.rows[i].id;
        });
        u.over.addEventListener("mouseleave", () => { tip.style.display = "none"; });
      },
    },
  };
}

function metricChart(id, height, withReward) {
  const box = $(id);
  const data = seriesData();
  if (!withReward) data.pop();
  const width = Math.max(300, box.clientWidth || 900);
  const t0 = performance.now();
  let u = S.charts[id];
  if (!u) {
    const dot = { show: true, size: 3 };
    const series = [
      { label: "child (recorded)" },
      { label: S.metric.name, stroke: "#3070c0", paths: () => null, points: dot },
      { label: "best so far", stroke: "#e08020", width: 2, points: { show: false } },
    ];
    const axes = [{}, { label: S.metric.name }];
    if (withReward) {
      series.push({ label: "reward", stroke: "#40a060", paths: () => null, points: dot, scale: "reward" });
      axes.push({ scale: "reward", side: 1, label: "reward", grid: { show: false } });
    }
    const opts = {
      width, height,
      series, axes,
      scales: { x: { time: false } },
      cursor: { points: { size: 6 } },
      plugins: withReward ? [tipPlugin()] : [],
      hooks: { draw: [(u) => { box.dataset.drawn = "1"; box.dataset.points = u.data[0].length; box.dataset.drawMs = Math.round(performance.now() - t0); }] },
    };
    box.textContent = "";
    u = new uPlot(opts, data, box);
    S.charts[id] = u;
  } else {
    if (Math.abs(u.width - width) > 20) u.setSize({ width, height });
    u.setData(data);
  }
}

function drawRewards() { metricChart("rewards-chart", 460, true); }

// ---- children table ----

function fillSelect(sel, values) {
  const have = new Set(Array.from(sel.options).map((o) => o.value));
  for (const v of values) if (!have.has(v)) { const o = el("option", v); o.value = v; sel.appendChild(o); }
}

function drawTable() {
  if (!S.tableDirty) return;
  S.tableDirty = false;
  fillSelect($("f-status"), [...new Set(S.rows.map((r) => r.status))].sort());
  fillSelect($("f-slot"), [...new Set(S.rows.map((r) => r.slot))].sort());
  const st = $("f-status").value, slot = $("f-slot").value;
  const min = $("f-min").value === "" ? null : Number($("f-min").value);
  const max = $("f-max").value === "" ? null : Number($("f-max").value);
  const terms = $("f-arch").value.toLowerCase().split(/\s+/).filter(Boolean);
  let rows = S.rows.filter((r) =>
    (!st || r.status === st) && (!slot || r.slot === slot) &&
    (min === null || (r.metric !== null && r.metric >= min)) &&
    (max === null || (r.metric !== null && r.metric <= max)) &&
    terms.every((t) => r.arch.toLowerCase().includes(t)));
  const key = S.sort.key, dir = S.sort.up ? 1 : -1;
  const val = (r) => (key === "epochs" ? r.curve.length : r[key]);
  rows.sort((a, b) => {
    const x = val(a), y = val(b);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  $("f-count").textContent = rows.length + " of " + S.rows.length + " children" + (rows.length > TABLE_ROWS ? " (first " + TABLE_ROWS + " shown)" : "");
  const tbody = $("children").tBodies[0];
  tbody.textContent = "";
  for (const r of rows.slice(0, TABLE_ROWS)) {
    const tr = el("tr");
    tr.dataset.id = r.id;
    const cells = [r.id, el("span", r.status + (r.kind && r.kind !== r.status ? " (" + r.kind + ")" : ""), "st-" + r.status),
      num(r.metric), num(r.reward), r.slot, r.replica, r.version, r.curve.length, num(r.seconds, 1), r.params];
    for (const c of cells) {
      if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); } else tr.appendChild(el("td", c));
    }
    tr.appendChild(el("td", r.arch, "arch"));
    tbody.appendChild(tr);
  }
  for (const th of $("children").tHead.rows[0].cells) {
    th.classList.toggle("sorted", th.dataset.key === key);
    th.classList.toggle("up", th.dataset.key === key && S.sort.up);
  }
}

function setupTable() {
  for (const th of $("children").tHead.rows[0].cells) {
    th.onclick = () => {
      if (S.sort.key === th.dataset.key) S.sort.up = !S.sort.up; else { S.sort.key = th.dataset.key; S.sort.up = th.dataset.key === "id"; }
      S.tableDirty = true; drawTable();
    };
  }
  for (const id of ["f-status", "f-slot", "f-min", "f-max", "f-arch"]) {
    $(id).oninput = () => { S.tableDirty = true; drawTable(); };
  }
  $("children").tBodies[0].onclick = (e) => {
    const tr = e.target.closest("tr");
    if (tr) location.hash = "#child/" + tr.dataset.id;
  };
}

// ---- one child ----

async function showChild(id) {
  let c;
  try { c = await get(api("/children/" + id)); } catch (e) {
    $("c-id").textContent = id; $("c-status").textContent = "not recorded (yet)"; return;
  }
  $("c-id").textContent = c.id;
  $("c-status").textContent = c.row.status + (c.metric_text ? " · " + c.metric_text : " · " + S.metric.name + " " + num(c.row.metric)) + " · reward " + num(c.row.reward);
  $("c-svg").src = api("/children/" + id + "/arch.svg");
  $("c-record").textContent = JSON.stringify(c.record, null, 2);
  fillTable($("c-epochs").tBodies[0], c.epochs.map((e) => [e.epoch, num(e.train_loss), num(e.val_loss), num(e.val_metric), num(e.seconds, 2)]));
  const box = $("c-chart");
  box.textContent = "";
  if (S.charts.child) { S.charts.child.destroy(); delete S.charts.child; }
  if (c.epochs.length) {
    const data = [c.epochs.map((e) => e.epoch), c.epochs.map((e) => e.val_metric), c.epochs.map((e) => e.train_loss), c.epochs.map((e) => e.val_loss)];
    S.charts.child = new uPlot({
      width: Math.max(300, box.clientWidth || 500), height: 220,
      scales: { x: { time: false } },
      series: [{ label: "epoch" }, { label: S.metric.name, stroke: "#3070c0", width: 2 },
        { label: "train loss", stroke: "#c04040", scale: "loss" }, { label: "val loss", stroke: "#e08020", scale: "loss" }],
      axes: [{}, { label: S.metric.name }, { scale: "loss", side: 1, grid: { show: false } }],
    }, data, box);
  } else box.appendChild(el("p", "no per-epoch metrics", "muted"));
  $("c-log-title").style.display = c.log ? "" : "none";
  $("c-log").style.display = c.log ? "" : "none";
  if (c.log) $("c-log").textContent = (c.log.cut ? "…\n" : "") + c.log.text;
}

// ---- learning curves (canvas: one line per child) ----

function drawCurves() {
  const cv = $("curves");
  const w = Math.max(400, cv.parentElement.clientWidth - 10);
  if (cv.width !== w) cv.width = w;
  const g = cv.getContext("2d");
  g.clearRect(0, 0, cv.width, cv.height);
  const curves = S.rows.filter((r) => r.curve.length);
  if (!curves.length) { g.fillText("no child reports per-epoch metrics yet", 20, 30); cv.dataset.drawn = "1"; return; }
  let maxE = 1, lo = Infinity, hi = -Infinity;
  for (const r of curves) {
    maxE = Math.max(maxE, r.curve.length);
    for (const v of r.curve) if (v !== null && Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  }
  if (!(hi > lo)) { hi = lo + 1; }
  const L = 60, R = 20, T = 20, B = 40, W = cv.width - L - R, H = cv.height - T - B;
  const px = (e) => L + (maxE === 1 ? W / 2 : ((e - 1) / (maxE - 1)) * W);
  const py = (v) => T + H - ((v - lo) / (hi - lo)) * H;
  g.strokeStyle = "#999"; g.fillStyle = "#333"; g.lineWidth = 1;
  g.strokeRect(L, T, W, H);
  for (let e = 1; e <= maxE; e++) g.fillText(String(e), px(e) - 3, T + H + 15);
  for (let k = 0; k <= 4; k++) { const v = lo + ((hi - lo) * k) / 4; g.fillText(num(v, 3), 5, py(v) + 4); }
  g.fillText("epoch", L + W / 2, T + H + 32);
  g.fillText(S.metric.name, L, 12);
  const alpha = Math.max(0.05, Math.min(0.6, 30 / curves.length));
  for (const stopped of [false, true]) {
    g.strokeStyle = stopped ? "rgba(230,120,20," + alpha + ")" : "rgba(48,112,192," + alpha + ")";
    g.fillStyle = "rgba(230,120,20," + Math.min(1, 2 * alpha) + ")";
    for (const r of curves) {
      if ((r.status === "stopped") !== stopped) continue;
      g.beginPath();
      let started = false, last = null;
      r.curve.forEach((v, i) => {
        if (v === null || !Number.isFinite(v)) { started = false; return; }
        const x = px(i + 1), y = py(v);
        if (started) g.lineTo(x, y); else { g.moveTo(x, y); started = true; }
        last = [x, y];
      });
      g.stroke();
      if (stopped && last) { g.beginPath(); g.arc(last[0], last[1], 2, 0, 2 * Math.PI); g.fill(); }
    }
  }
  cv.dataset.drawn = "1";
  cv.dataset.curves = curves.length;
}

// ---- choices per decision ----

async function drawChoices() {
  if (Date.now() - S.choicesAt < 5000) return;
  S.choicesAt = Date.now();
  const c = await get(api("/choices"));
  const box = $("choices");
  for (const k of Object.keys(S.charts)) if (k.startsWith("choice-")) { S.charts[k].destroy(); delete S.charts[k]; }
  box.textContent = "";
  if (!c.centres.length) { box.appendChild(el("p", "no children yet", "muted")); return; }
  const colours = ["#3070c0", "#e08020", "#40a060", "#c04040", "#8060b0", "#806040", "#d060a0", "#707070", "#a0a020", "#20a0b0"];
  c.panels.forEach((p, k) => {
    if (!p.options.length) return;
    const div = el("div", null, "chart");
    div.appendChild(el("h4", p.head));
    box.appendChild(div);
    const data = [c.centres, ...p.shares.map((s) => s.map((v) => (v === null ? null : v)))];
    S.charts["choice-" + k] = new uPlot({
      width: Math.max(300, box.clientWidth - 20), height: 180,
      scales: { x: { time: false }, y: { range: [0, 1] } },
      series: [{ label: "child" }, ...p.options.map((o, i) => ({ label: String(o), stroke: colours[i % colours.length], width: 2 }))],
      axes: [{}, { label: "share" }],
    }, data, div);
  });
}

// ---- compare runs ----

async function drawCompare() {
  if (Date.now() - S.compareAt < 3000) return;
  S.compareAt = Date.now();
  const c = await get("/api/compare");
  const n = Math.max(1, ...c.runs.map((r) => r.best.length));
  const x = Array.from({ length: n }, (_, i) => i + 1);
  const data = [x, ...c.runs.map((r) => x.map((_, i) => (i < r.best.length ? r.best[i] : null)))];
  const box = $("compare-chart");
  if (S.charts.compare) { S.charts.compare.destroy(); delete S.charts.compare; }
  box.textContent = "";
  const colours = ["#3070c0", "#e08020", "#40a060", "#c04040", "#8060b0", "#806040"];
  S.charts.compare = new uPlot({
    width: Math.max(300, box.clientWidth || 900), height: 400,
    scales: { x: { time: false } },
    series: [{ label: "children recorded" }, ...c.runs.map((r, i) => ({ label: r.name + " · " + (r.label || ""), stroke: colours[i % colours.length], width: 2 }))],
    axes: [{}, { label: "best " + (c.runs[0] ? c.runs[0].metric.name : "") }],
    hooks: { draw: [() => { box.dataset.drawn = "1"; }] },
  }, data, box);
  fillTable($("compare-table").tBodies[0], c.runs.map((r) => {
    const last = r.best.length ? r.best[r.best.length - 1] : null;
    return [r.name + " (" + r.dir + ")", r.label || "?", r.best.length + (r.budget ? " / " + r.budget : ""), num(last)];
  }));
}

// ---- start ----

window.addEventListener("hashchange", route);
window.addEventListener("resize", () => { S.choicesAt = 0; S.compareAt = 0; draw(); });
setupTable();
loadRuns()
  .then(async () => { await poll(true); route(); setTimeout(() => poll(false), POLL_MS); })
  .catch((e) => { $("live").textContent = "no answer: " + e.message; });
