/* seedcart dashboard: fills each page from the reports API (session cookie), draws charts with plotly.js. */
"use strict";

const SC = window.SC;
const t = (key) => SC.t[key] || key;
const main = document.getElementById("main");
const locale = SC.lang === "zh" ? "zh-CN" : "en-US";
const MONEY = new Set(["spend", "gmv", "cost_per_visit", "cost_per_cart", "cost_per_order"]);
const PCT = new Set(["ctr", "interaction_rate", "link_ctr", "visit_rate", "cart_rate", "conversion_rate"]);
const FILTERS = ["start", "end", "model", "lookback", "placement", "mode", "campaign_id"];
const MODELS = ["last_touch", "first_touch", "linear", "position_based", "time_decay", "markov", "shapley"];
const PALETTE = ["#ff2e4d", "#3a6ff7", "#12a37f", "#f5a524", "#8e59ff", "#17a2c4", "#6b7385"];
const PLOT_CONFIG = { displayModeBar: false, responsive: true };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, column) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (MONEY.has(column)) {
    return "¥" + (value / 100).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  }
  if (PCT.has(column)) return (value * 100).toLocaleString(locale, { maximumFractionDigits: 2 }) + "%";
  if (column === "roi") return value.toLocaleString(locale, { maximumFractionDigits: 2 });
  return value.toLocaleString(locale, { maximumFractionDigits: Number.isInteger(value) ? 0 : 1 });
}

function params() {
  const query = new URLSearchParams(location.search);
  const out = {};
  for (const name of FILTERS) if (query.get(name)) out[name] = query.get(name);
  return out;
}

async function api(path, extra = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries({ ...params(), ...extra })) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) { location.href = "/"; throw new Error("signed out"); }
  const body = await response.json();
  if (!response.ok) throw new Error(JSON.stringify(body.detail || body));
  return body;
}

function exportUrl(format) {
  const url = new URL("/v1/reports/export", location.origin);
  for (const [key, value] of Object.entries({ ...params(), format })) url.searchParams.set(key, value);
  return url.pathname + url.search;
}

function filterBar(onApply) {
  const current = params();
  const input = (name, type) => el("label", {}, t(name),
    el("input", { name, type, value: current[name] || "", size: type === "number" ? 6 : undefined, min: 0 }));
  const select = (name, options) => el("label", {}, t(name),
    el("select", { name }, options.map(([value, label]) => {
      const option = el("option", { value }, label);
      if ((current[name] || "") === value) option.selected = true;
      return option;
    })));
  const form = el("form", { class: "filters card" },
    input("start", "date"), input("end", "date"),
    select("model", MODELS.map((m) => [m === "last_touch" ? "" : m, m])),
    input("lookback", "number"),
    select("placement", [["", t("all")], ["search", "search"], ["feed", "feed"], ["video", "video"]]),
    select("mode", [["", t("all")], ["UD", "UD"], ["CID", "CID"]]),
    el("button", { type: "submit", class: "primary" }, t("apply")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams(location.search);
    for (const [key, value] of new FormData(form).entries()) {
      if (value) query.set(key, value); else query.delete(key);
    }
    query.delete("offset");
    history.replaceState(null, "", location.pathname + "?" + query.toString());
    onApply();
  });
  return form;
}

function kpi(label, value, column, ci, live = false) {
  const ciText = ci && ci[1] - ci[0] > 1e-9 ? `95%: ${fmt(ci[0], column)} – ${fmt(ci[1], column)}` : "";
  return el("div", { class: "kpi" + (live ? " live" : ""), "data-kpi": column },
    el("div", { class: "label" }, label), el("div", { class: "value" }, fmt(value, column)),
    ciText ? el("div", { class: "ci" }, ciText) : null);
}

function layout(extra = {}) {
  return {
    margin: { l: 48, r: 44, t: 10, b: 40 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    font: { family: getComputedStyle(document.body).fontFamily, size: 12, color: "#1d2330" },
    legend: { orientation: "h", y: -0.2 }, xaxis: { gridcolor: "#eef0f3" }, yaxis: { gridcolor: "#eef0f3" },
    ...extra,
  };
}

function chartCard(title, id) {
  return el("div", { class: "card" }, el("h2", {}, title), el("div", { class: "chart", id }));
}

function message(text) { return el("p", { class: "muted" }, text); }

/* ---------- overview ---------- */

async function renderOverview() {
  const liveGrid = el("div", { class: "grid kpis", id: "live" });
  const periodGrid = el("div", { class: "grid kpis", id: "period" });
  const trend = chartCard(t("daily_trend"), "trend-chart");
  const top = el("div", { class: "card" }, el("h2", {}, t("top_notes")), el("div", { id: "top-notes" }));
  main.replaceChildren(
    el("h2", {}, el("span", { class: "live-dot" }), t("today")), el("p", { class: "muted small" }, t("live_note")),
    liveGrid, filterBar(loadPeriod), el("h2", {}, t("period")), periodGrid, el("div", { class: "grid two" }, trend, top));

  async function loadLive() {
    try {
      const live = await api("/v1/reports/realtime", {});
      liveGrid.replaceChildren(...["impressions", "reads", "link_clicks", "visits", "carts", "orders", "gmv"]
        .map((c) => kpi(t(c), live[c], c, null, true)));
    } catch (error) { console.warn(error); }
  }
  async function loadPeriod() {
    const [models, days, notes] = await Promise.all([
      api("/v1/reports/models"), api("/v1/reports/breakdown", { by: "day" }),
      api("/v1/reports/notes", { sort: "gmv", limit: 8 })]);
    const model = params().model || "last_touch";
    const total = models.rows.find((r) => r.model === model) || {};
    periodGrid.replaceChildren(...["impressions", "reads", "link_clicks", "visits", "orders", "gmv", "spend", "roi",
      "seeding_value"].map((c) => kpi(t(c), total[c], c, total[c + "_ci"])));
    const shown = days.rows.filter((r) => !r.withheld);
    const series = ["reads", "link_clicks", "visits", "orders"].map((c, i) => ({
      x: shown.map((r) => r.key), y: shown.map((r) => r[c]), name: t(c), type: "scatter", mode: "lines+markers",
      line: { color: PALETTE[i], width: 2 }, yaxis: c === "reads" ? "y" : "y2" }));
    Plotly.react("trend-chart", series, layout({ yaxis2: { overlaying: "y", side: "right", showgrid: false } }),
      PLOT_CONFIG);
    document.getElementById("top-notes").replaceChildren(notesTable(notes.rows,
      ["reads", "link_clicks", "orders", "gmv", "roi"], null));
  }
  await loadLive();
  setInterval(loadLive, 2000);
  await loadPeriod();
}

/* ---------- note table ---------- */

const NOTE_COLUMNS = ["impressions", "reads", "ctr", "interaction_rate", "link_clicks", "link_ctr", "visits",
  "visit_rate", "carts", "cart_rate", "orders", "conversion_rate", "gmv", "spend", "roi", "cost_per_order",
  "true_interest_readers", "seeding_value", "seeding_value_per_1k_reads"];

function notesTable(rows, columns, sorting) {
  const head = el("tr", {}, el("th", { class: "text" }, t("note")), columns.map((c) => {
    const th = el("th", { class: sorting && sorting.sort === c ? "sorted" : "", "data-col": c },
      t(c) + (sorting && sorting.sort === c ? (sorting.order === "asc" ? " ▲" : " ▼") : ""));
    if (sorting) th.addEventListener("click", () => sorting.onSort(c));
    return th;
  }));
  const body = rows.map((row) => el("tr", { "data-note": row.note_id },
    el("td", { class: "text title" }, el("a", { href: `/notes/${encodeURIComponent(row.note_id)}${location.search}` },
      row.title || row.note_id)),
    columns.map((c) => el("td", { "data-col": c }, fmt(row[c], c),
      row[c + "_ci"] && row[c + "_ci"][1] - row[c + "_ci"][0] > 1e-9
        ? el("span", { class: "ci" }, ` ±${fmt((row[c + "_ci"][1] - row[c + "_ci"][0]) / 2, c)}`) : null))));
  if (!rows.length) return message(t("no_data"));
  return el("div", { class: "table-wrap" }, el("table", { id: "notes-table" }, el("thead", {}, head),
    el("tbody", {}, body)));
}

async function renderNotes() {
  const holder = el("div", { class: "card" });
  main.replaceChildren(filterBar(load), holder);
  const state = { sort: "gmv", order: "desc", offset: 0, limit: 20 };
  state.onSort = (column) => {
    state.order = state.sort === column && state.order === "desc" ? "asc" : "desc";
    state.sort = column;
    state.offset = 0;
    load();
  };
  async function load() {
    const data = await api("/v1/reports/notes", { sort: state.sort, order: state.order, limit: state.limit,
      offset: state.offset });
    const pager = el("div", { class: "pager" },
      el("span", { class: "muted" }, `${data.total ? state.offset + 1 : 0}–${state.offset + data.rows.length} / ${data.total} ${t("rows_of")}`),
      el("button", { class: "button ghost", disabled: state.offset === 0 ? "" : null,
        onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, t("prev")),
      el("button", { class: "button ghost", disabled: state.offset + state.limit >= data.total ? "" : null,
        onclick: () => { state.offset += state.limit; load(); } }, t("next")));
    holder.replaceChildren(
      el("div", { class: "toolbar" }, el("span", { class: "muted small" }, t("interval_note")),
        el("span", {}, el("a", { class: "button ghost", href: exportUrl("csv") }, t("export_csv")), " ",
          el("a", { class: "button ghost", href: exportUrl("parquet") }, t("export_parquet")))),
      notesTable(data.rows, NOTE_COLUMNS, state), pager);
  }
  await load();
}

/* ---------- note detail ---------- */

async function renderNote() {
  const data = await api(`/v1/reports/notes/${encodeURIComponent(SC.noteId)}`);
  const totals = data.totals;
  const kpis = el("div", { class: "grid kpis" }, ["impressions", "reads", "link_clicks", "visits", "carts", "orders",
    "gmv", "spend", "roi", "seeding_value"].map((c) => kpi(t(c), totals[c], c, totals[c + "_ci"])));
  const paths = el("div", { class: "card" }, el("h2", {}, t("top_paths")), data.top_paths.length
    ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { class: "text" }, t("path")), el("th", {}, t("events")))),
      el("tbody", {}, data.top_paths.map((p) => el("tr", {}, el("td", { class: "path" }, p.path),
        el("td", {}, fmt(p.events, "events"))))))
    : message(t("no_data")));
  main.replaceChildren(
    el("p", {}, el("a", { href: "/notes" + location.search }, t("back_to_notes"))),
    el("h1", {}, data.title || data.note_id), el("p", { class: "muted small" }, `${data.note_id} · ${t("model")}: ${data.model}`),
    filterBar(() => location.reload()), kpis,
    el("div", { class: "grid two" }, chartCard(t("funnel"), "funnel-chart"), chartCard(t("daily_trend"), "trend-chart")),
    el("div", { class: "grid two" }, chartCard(t("lag_histogram"), "lag-chart"), chartCard(t("roi_tx"), "roi-chart")),
    paths);
  Plotly.react("funnel-chart", [{
    type: "funnel", y: data.funnel.map((s) => t(s.step)), x: data.funnel.map((s) => s.value),
    textinfo: "value+percent previous", marker: { color: PALETTE.slice(0, data.funnel.length) },
  }], layout({ margin: { l: 90, r: 16, t: 10, b: 20 } }), PLOT_CONFIG);
  Plotly.react("trend-chart", ["reads", "link_clicks", "visits", "orders"].map((c, i) => ({
    x: data.trend.map((r) => r.day), y: data.trend.map((r) => r[c]), name: t(c), type: "scatter",
    mode: "lines+markers", line: { color: PALETTE[i] }, yaxis: c === "reads" ? "y" : "y2" })),
  layout({ yaxis2: { overlaying: "y", side: "right", showgrid: false } }), PLOT_CONFIG);
  Plotly.react("lag-chart", ["visits", "carts", "orders"].map((c, i) => ({
    x: data.lag_histogram.map((b) => b.lag_day), y: data.lag_histogram.map((b) => b[c] || 0), name: t(c),
    type: "bar", marker: { color: PALETTE[i + 1] } })), layout({ barmode: "stack" }), PLOT_CONFIG);
  Plotly.react("roi-chart", [{ x: data.roi_tx.map((p) => "T+" + p.x), y: data.roi_tx.map((p) => p.roi),
    type: "scatter", mode: "lines+markers", line: { color: PALETTE[0], shape: "hv" }, name: "ROI" }],
  layout(), PLOT_CONFIG);
}

/* ---------- breakdowns ---------- */

async function renderBreakdowns() {
  const by = new URLSearchParams(location.search).get("by") || "campaign";
  const tabs = el("div", { class: "tabs" }, ["campaign", "placement", "mode", "partner", "day"].map((name) => {
    const query = new URLSearchParams(location.search);
    query.set("by", name);
    return el("a", { href: "?" + query.toString(), class: name === by ? "active" : "" }, t(name));
  }));
  const holder = el("div", { class: "card" });
  const chart = chartCard(t("gmv") + " / " + t("spend"), "breakdown-chart");
  main.replaceChildren(tabs, filterBar(load), el("div", { class: "grid" }, chart), holder);
  const columns = ["impressions", "reads", "link_clicks", "visits", "carts", "orders", "gmv", "spend", "roi",
    "seeding_value"];
  async function load() {
    const data = await api("/v1/reports/breakdown", { by });
    const label = (row) => (row.name ? `${row.name} (#${row.key})` : String(row.key ?? "–"));
    const shown = data.rows.filter((r) => !r.withheld);
    Plotly.react("breakdown-chart", ["gmv", "spend"].map((c, i) => ({
      x: shown.map(label), y: shown.map((r) => r[c] / 100), name: t(c), type: "bar", marker: { color: PALETTE[i] } })),
    layout({ barmode: "group" }), PLOT_CONFIG);
    holder.replaceChildren(data.rows.length ? el("div", { class: "table-wrap" }, el("table", { id: "breakdown-table" },
      el("thead", {}, el("tr", {}, el("th", { class: "text" }, t(by)), columns.map((c) => el("th", {}, t(c))))),
      el("tbody", {}, data.rows.map((row) => row.withheld
        ? el("tr", { class: "withheld" }, el("td", { class: "text" }, label(row)),
          el("td", { colspan: columns.length }, t("withheld")))
        : el("tr", {}, el("td", { class: "text" }, label(row)), columns.map((c) => el("td", {}, fmt(row[c], c))))))))
      : message(t("no_data")));
  }
  await load();
}

/* ---------- models ---------- */

async function renderModels() {
  const holder = el("div", { class: "card" });
  main.replaceChildren(filterBar(load), el("div", { class: "grid" }, chartCard(t("gmv_by_note_model"), "models-gmv")),
    el("div", { class: "grid two" }, chartCard(t("orders"), "models-orders"), holder));
  const columns = ["visits", "carts", "orders", "gmv", "roi", "seeding_value", "cost_per_order"];
  async function load() {
    const data = await api("/v1/reports/models");
    const names = data.rows.map((r) => r.model);
    const errorBar = (c) => ({ type: "data", symmetric: false, color: "#6b7385",
      array: data.rows.map((r) => r[c + "_ci"][1] - r[c]), arrayminus: data.rows.map((r) => r[c] - r[c + "_ci"][0]) });
    Plotly.react("models-orders", [{ x: names, y: data.rows.map((r) => r.orders), type: "bar", error_y: errorBar("orders"),
      marker: { color: PALETTE[1] } }], layout(), PLOT_CONFIG);
    const notes = data.notes.map((n) => n.title || n.note_id);
    Plotly.react("models-gmv", names.map((model, i) => ({
      x: notes, y: data.notes.map((n) => n.gmv[model] / 100), name: model, type: "bar",
      marker: { color: PALETTE[i % PALETTE.length] } })), layout({ barmode: "group" }), PLOT_CONFIG);
    holder.replaceChildren(el("table", { id: "models-table" },
      el("thead", {}, el("tr", {}, el("th", { class: "text" }, t("model")), columns.map((c) => el("th", {}, t(c))))),
      el("tbody", {}, data.rows.map((row) => el("tr", {}, el("td", { class: "text" }, row.model),
        columns.map((c) => el("td", {}, fmt(row[c], c))))))));
  }
  await load();
}

const PAGES = { overview: renderOverview, notes: renderNotes, note: renderNote, breakdowns: renderBreakdowns,
  models: renderModels };
(PAGES[SC.page] || renderOverview)().catch((error) => {
  main.replaceChildren(el("p", { class: "error" }, String(error.message || error)));
});
