// A service's page: its state, "check now", pause and resume, edit and delete; latency and uptime charts over
// 24 h, 7 d, 30 d, 90 d or 365 d; recent results; incidents with durations; and the check's settings.
// Results and state changes arrive live from the event stream.

import * as api from "./api.js";
import {
  STATE_LABELS, displayState, el, focus, formatCount, formatDateTime, formatDuration, formatLatency, formatMoment,
  formatPercent, formatRelative, formatShortDateTime, stateBadge, toast,
} from "./dom.js";
import { confirmDelete, tileForm } from "./forms.js";
import { onLiveEvent, setPoller } from "./live.js";
import { navigate } from "./router.js";
import { canEdit } from "./session.js";

const WINDOWS = [
  ["24h", "24 h"],
  ["7d", "7 d"],
  ["30d", "30 d"],
  ["90d", "90 d"],
  ["365d", "365 d"],
];
const RESULTS_PAGE = 50;
const WINDOW_KEY = "homewatch.window";

export function mountService(main, id) {
  const view = new ServiceView(main, Number(id));
  view.start();
  return view;
}

let uplot = null;

/** uPlot is loaded the first time a chart is drawn, so the start page never downloads it. */
function loadUPlot() {
  uplot ??= new Promise((resolve, reject) => {
    document.head.append(el("link", { rel: "stylesheet", href: "/vendor/uplot/uPlot.min.css" }));
    const script = el("script", { src: "/vendor/uplot/uPlot.iife.min.js" });
    script.addEventListener("load", () => resolve(window.uPlot));
    script.addEventListener("error", () => {
      uplot = null;
      reject(new Error("the chart library did not load"));
    });
    document.head.append(script);
  });
  return uplot;
}

class ServiceView {
  constructor(main, id) {
    this.main = main;
    this.id = id;
    this.service = null;
    this.window = sessionStorage.getItem(WINDOW_KEY) || "24h";
    this.cleanups = [];
    this.chart = null;
    this.statsTimer = null;
  }

  start() {
    document.title = "Service · Homewatch";
    this.main.append(el("p", { class: "loading" }, "Loading…"));
    this.cleanups.push(onLiveEvent((event) => this.onEvent(event)));
    setPoller(() => this.reload());
    const themeChanged = () => this.drawChart();
    window.addEventListener("themechange", themeChanged);
    this.cleanups.push(() => window.removeEventListener("themechange", themeChanged));
    this.firstLoad();
  }

  destroy() {
    for (const cleanup of this.cleanups) cleanup();
    setPoller(null);
    clearTimeout(this.statsTimer);
    clearTimeout(this.incidentsTimer);
    clearTimeout(this.catchUpTimer);
    this.chart?.destroy();
    this.resizeObserver?.disconnect();
  }

  async firstLoad() {
    try {
      this.service = await api.get(`/services/${this.id}`);
    } catch (error) {
      this.main.replaceChildren(
        el("h1", {}, error.status === 404 ? "No such service" : "Cannot load this service"),
        el("p", {}, error.status === 404 ? `There is no service ${this.id}; it may have been deleted.` : error.message),
        el("p", {}, el("a", { href: "/", "data-link": "" }, "Back to the start page")));
      return;
    }
    this.renderPage();
    await Promise.all([this.loadStats(), this.loadResults(), this.loadIncidents()]);
    // The server stores results in batches about once a second; a check announced just before this page
    // opened may have been missed by the first read, and its event is gone. One more read settles it.
    this.catchUpTimer = setTimeout(() => Promise.all([this.loadResults(), this.loadStats()]), 1500);
  }

  /** What the poller runs while the event stream is down. */
  async reload() {
    this.service = await api.get(`/services/${this.id}`);
    this.renderHeader();
    await Promise.all([this.loadStats(), this.loadResults(), this.loadIncidents()]);
  }

  renderPage() {
    this.header = el("div", { class: "service-header" });
    this.statusLine = el("p", { class: "service-status", role: "status", "aria-live": "polite" });
    this.actions = el("div", { class: "service-actions" });
    this.windowTabs = el("div", { class: "window-tabs", role: "group", "aria-label": "Time window" },
      ...WINDOWS.map(([value, label]) => el("button", {
        type: "button", class: "button button-small", "aria-pressed": String(value === this.window), dataset: { window: value },
      }, label)));
    this.windowTabs.addEventListener("click", (event) => {
      const button = event.target.closest("[data-window]");
      if (!button || button.dataset.window === this.window) return;
      this.window = button.dataset.window;
      sessionStorage.setItem(WINDOW_KEY, this.window);
      for (const tab of this.windowTabs.children) tab.setAttribute("aria-pressed", String(tab.dataset.window === this.window));
      this.loadStats();
    });
    this.summary = el("dl", { class: "stats-summary" });
    this.chartNode = el("div", { class: "chart", id: "latency-chart", role: "img", "aria-label": "Latency chart" });
    this.bars = el("div", { class: "uptime-bars", id: "uptime-bars", role: "img" });
    this.barsRange = el("div", { class: "uptime-bars-range" });
    this.resultsBody = el("tbody");
    this.olderResults = el("button", { type: "button", class: "button button-small", hidden: true }, "Show older results");
    this.olderResults.addEventListener("click", () => this.loadResults({ older: true }));
    this.incidentsNode = el("ul", { class: "incidents" });
    this.settingsNode = el("dl", { class: "check-settings" });

    this.monitoredParts = el("div", { class: "monitored" },
      el("section", { class: "panel", "aria-labelledby": "stats-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "stats-heading" }, "Uptime and latency"), this.windowTabs),
        this.summary,
        el("h3", {}, "Latency"), this.chartNode,
        el("h3", {}, "Uptime"), this.bars, this.barsRange),
      el("div", { class: "columns" },
        el("section", { class: "panel", "aria-labelledby": "results-heading" },
          el("h2", { id: "results-heading" }, "Recent checks"),
          el("div", { class: "table-wrap" },
            el("table", { class: "results" },
              el("thead", {}, el("tr", {},
                el("th", { scope: "col" }, "Time"), el("th", { scope: "col" }, "Result"), el("th", { scope: "col" }, "Latency"),
                el("th", { scope: "col" }, "HTTP"), el("th", { scope: "col" }, "Details"))),
              this.resultsBody)),
          this.olderResults),
        el("section", { class: "panel", "aria-labelledby": "incidents-heading" },
          el("h2", { id: "incidents-heading" }, "Incidents"), this.incidentsNode,
          el("h2", {}, "Check settings"), this.settingsNode)));
    this.unmonitored = el("section", { class: "panel unmonitored" },
      el("h2", {}, "Not monitored"),
      el("p", {}, "This tile is only a link. Give it a check and Homewatch will watch it, keep its uptime and latency, " +
        "and open an incident when it goes down."),
      el("button", { type: "button", class: "button button-primary", "data-action": "edit" }, "Add a check"));
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      this.header, this.statusLine, this.actions, this.unmonitored, this.monitoredParts);
    // `main` outlives this view: the listener goes when the view does.
    const onClick = (event) => this.onAction(event);
    this.main.addEventListener("click", onClick);
    this.cleanups.push(() => this.main.removeEventListener("click", onClick));
    this.renderHeader();
    this.resizeObserver = new ResizeObserver(() => this.resizeChart());
    this.resizeObserver.observe(this.chartNode);
  }

  renderHeader() {
    const service = this.service;
    const state = displayState(service);
    document.title = `${service.name} · Homewatch`;
    const url = el("a", { href: service.url, target: "_blank", rel: "noopener noreferrer", class: "service-url" }, service.url);
    this.header.replaceChildren(
      el("h1", {}, el("span", { class: "service-name" }, service.name), " ", stateBadge(state)),
      el("p", {}, url),
      service.description ? el("p", { class: "service-description" }, service.description) : null,
      service.tags.length ? el("p", { class: "tags" }, ...service.tags.map((tag) => el("span", { class: "tag" }, tag))) : null);
    this.renderStatus();
    const paused = service.status.state === "paused";
    this.actions.hidden = !canEdit();
    this.actions.replaceChildren(
      service.check && service.check.kind !== "push"
        ? el("button", { type: "button", class: "button button-primary", "data-action": "check", disabled: paused }, "Check now")
        : null,
      service.check ? el("button", { type: "button", class: "button", "data-action": paused ? "resume" : "pause" },
        paused ? "Resume" : "Pause") : null,
      el("button", { type: "button", class: "button", "data-action": "edit" }, "Edit"),
      el("button", { type: "button", class: "button button-danger", "data-action": "delete" }, "Delete"));
    this.unmonitored.hidden = Boolean(service.check);
    this.unmonitored.querySelector("button").hidden = !canEdit();
    this.monitoredParts.hidden = !service.check;
    this.renderSettings();
  }

  renderStatus() {
    const { status, check } = this.service;
    if (!check) {
      this.statusLine.textContent = "Not monitored.";
      return;
    }
    const parts = [];
    if (status.state === "unknown") parts.push("Not checked yet.");
    else if (status.since) {
      const seconds = (Date.now() - new Date(status.since).getTime()) / 1000;
      parts.push(`${STATE_LABELS[status.state]} for ${formatDuration(seconds)} (since ${formatDateTime(status.since)}).`);
    }
    if (status.last_checked_at) {
      parts.push(`Last checked ${formatRelative(status.last_checked_at)} in ${formatLatency(status.last_latency_ms)}.`);
    }
    if (status.last_error && status.state === "degraded") parts.push(`Degraded: ${status.last_error}.`);
    else if (status.last_error && status.state !== "up") parts.push(`Last error: ${status.last_error}.`);
    const cert = status.certificate;
    if (cert) {
      const left = cert.days_left < 0 ? "expired" : `${cert.days_left} days left`;
      parts.push(`TLS certificate for ${cert.subject} from ${cert.issuer}, valid until ${formatDateTime(cert.expires_at)} (${left}).`);
    }
    this.statusLine.textContent = parts.join(" ");
  }

  renderSettings() {
    const check = this.service.check;
    if (!check) {
      this.settingsNode.replaceChildren();
      return;
    }
    const rows = [
      ["Kind", {
        http: "HTTP(S) status", keyword: "Keyword on the page", tcp: "TCP port", dns: "DNS lookup", tls: "TLS certificate",
        ping: "Ping", push: "Push (the job calls Homewatch)",
      }[check.kind]],
      check.kind === "push" ? null : ["Target", check.target ?? `${this.service.url} (the tile's URL)`],
      ["Every", `${check.interval_s} s`],
      check.timeout_s == null ? null : ["Timeout", `${check.timeout_s} s`],
      ["Retries before down", String(check.retries)],
    ];
    if (check.method) rows.push(["Request", `${check.method}, accepts ${check.expected_status}`]);
    if (check.follow_redirects != null) rows.push(["Redirects", check.follow_redirects ? "followed" : "not followed"]);
    if (check.verify_tls != null) rows.push(["TLS certificate", check.verify_tls ? "verified" : "not verified"]);
    if (check.cert_warn_days != null) {
      rows.push(["Certificate warning", check.cert_warn_days ? `below ${check.cert_warn_days} days` : "never"]);
    }
    if (check.degraded_above_ms != null) rows.push(["Degraded when slower than", `${check.degraded_above_ms} ms`]);
    for (const condition of check.json ?? []) {
      rows.push(["JSON", `${condition.path} ${condition.op}${condition.op === "exists" ? "" : ` ${JSON.stringify(condition.value)}`}`]);
    }
    if (check.kind === "ping") rows.push(["Packets", `${check.packets}, down at ${check.loss_down_pct} % lost`]);
    if (check.kind === "push") {
      rows.push(["Expected", check.schedule ? `${check.schedule} (${check.timezone ?? "UTC"}), ${check.grace_s} s grace`
        : `every ${check.interval_s} s, ${check.grace_s} s grace`]);
      if (check.token && check.token !== "(hidden)") {
        const url = `${location.origin}/api/v1/push/${check.token}`;
        const lines = [`curl -fsS -m 10 --retry 3 ${url}`, `wget -q -O /dev/null ${url}`,
          `curl -fsS ${url}/start && ./backup.sh && curl -fsS ${url} || curl -fsS "${url}?status=down&msg=failed"`];
        rows.push(["Push URL", el("div", { class: "push-lines" },
          ...lines.map((line) => el("pre", { class: "push-line", "data-push-line": "" }, el("code", {}, line))))]);
      } else {
        rows.push(["Push URL", "shown to those who may edit the tile"]);
      }
    }
    if (check.keyword) rows.push([check.keyword_absent ? "Must not contain" : "Must contain", check.keyword]);
    if (check.kind === "dns") rows.push(["Record", `${check.record_type ?? "A or AAAA"}${check.expected ? ` = ${check.expected}` : ""}`]);
    if (this.service.badges) {
      // Public badges: the images themselves, and the Markdown to put one in a README.
      const badge = (name) => `${location.origin}/badge/${this.id}/${name}`;
      rows.push(["Badges", el("div", { class: "badge-lines" },
        ...["status.svg", "uptime.svg?window=30d", "latency.svg?window=24h"].map((name) => el("p", {},
          el("img", { src: badge(name), alt: name.split(".")[0], height: 20 }), " ",
          el("code", {}, `![${name.split(".")[0]}](${badge(name)})`))))]);
    }
    this.settingsNode.replaceChildren(...rows.filter(Boolean).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  }

  async onAction(event) {
    const button = event.target.closest("[data-action]");
    if (!button || !this.main.contains(button)) return;
    const action = button.dataset.action;
    if (action === "edit") return this.edit();
    if (action === "delete") return this.remove();
    button.disabled = true;
    try {
      if (action === "check") {
        const run = await api.post(`/services/${this.id}/check`);
        this.service.status = run.status;
        this.addResult(run.result);
        this.incidentsSoon();
        toast(run.result.ok
          ? `Check passed in ${formatLatency(run.result.latency_ms)}.`
          : `Check failed: ${run.result.error}.`, run.result.ok ? "info" : "error");
      } else if (action === "pause" || action === "resume") {
        this.service = await api.post(`/services/${this.id}/${action}`);
        toast(action === "pause" ? "Checks paused." : "Checks resumed.");
        this.incidentsSoon();
      }
    } catch (error) {
      toast(error.message, "error");
    } finally {
      button.disabled = false;
    }
    this.renderHeader();
    const again = this.actions.querySelector(`[data-action="${action === "pause" ? "resume" : action === "resume" ? "pause" : action}"]`);
    focus(again);
    return undefined;
  }

  async edit() {
    let groups = [];
    try {
      groups = (await api.get("/groups")).map(({ id, name }) => ({ id, name }));
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    const saved = await tileForm({ service: this.service, groups });
    if (!saved) return;
    this.service = saved;
    toast(`“${saved.name}” saved.`);
    this.renderHeader();
    await Promise.all([this.loadStats(), this.loadResults()]);
  }

  async remove() {
    const confirmed = await confirmDelete({
      title: `Delete “${this.service.name}”?`,
      message: "The tile, its check and its history will be deleted. This cannot be undone.",
    });
    if (!confirmed) return;
    try {
      await api.del(`/services/${this.id}`);
    } catch (error) {
      toast(error.message, "error");
      return;
    }
    toast(`“${this.service.name}” deleted.`);
    navigate("/");
  }

  async loadStats() {
    if (!this.service.check) return;
    const window = this.window;
    let stats;
    try {
      stats = await api.get(`/services/${this.id}/stats?window=${window}`);
    } catch (error) {
      this.summary.replaceChildren(el("p", { class: "form-error" }, `Cannot load the stats: ${error.message}`));
      return;
    }
    if (window !== this.window) return;
    this.stats = stats;
    const label = WINDOWS.find(([value]) => value === window)[1];
    this.summary.replaceChildren(
      ...[
        [`Uptime (${label})`, formatPercent(stats.uptime_percent), "uptime"],
        ["Average latency", formatLatency(stats.avg_latency_ms === null ? null : Math.round(stats.avg_latency_ms)), "avg"],
        ["95th percentile", formatLatency(stats.p95_latency_ms === null ? null : Math.round(stats.p95_latency_ms)), "p95"],
        ["Checks", `${formatCount(stats.checks)} (${formatCount(stats.checks - stats.ok_checks)} failed)`, "checks"],
      ].map(([term, value, key]) => el("div", { class: "stat", dataset: { stat: key } }, el("dt", {}, term), el("dd", {}, value))));
    this.renderBars(stats);
    await this.drawChart();
  }

  renderBars(stats) {
    const buckets = stats.series;
    const bucketSeconds = buckets.length > 1
      ? (new Date(buckets[1].start) - new Date(buckets[0].start)) / 1000
      : 3600;
    const withData = buckets.filter((bucket) => bucket.uptime_percent !== null);
    const worst = withData.length ? Math.min(...withData.map((bucket) => bucket.uptime_percent)) : null;
    this.bars.setAttribute("aria-label", withData.length
      ? `Uptime in ${buckets.length} slices of ${formatDuration(bucketSeconds)}; the worst slice was ${formatPercent(worst)}.`
      : "No checks in this window yet.");
    this.bars.replaceChildren(...buckets.map((bucket) => {
      const uptime = bucket.uptime_percent;
      const grade = uptime === null ? "none" : uptime >= 99.9 ? "good" : uptime >= 95 ? "fair" : "bad";
      const bar = el("span", {
        class: `bar bar-${grade}`,
        title: `${formatShortDateTime(bucket.start)}: ${uptime === null ? "no checks" : `${formatPercent(uptime)} of ${formatCount(bucket.checks)} checks`}`,
      });
      bar.style.setProperty("--uptime", uptime === null ? "0.08" : String(Math.max(uptime / 100, 0.08)));
      return bar;
    }));
    this.barsRange.replaceChildren(el("span", {}, formatShortDateTime(stats.from)), el("span", {}, "now"));
  }

  async drawChart() {
    if (!this.stats || !this.chartNode || this.monitoredParts.hidden) return;
    let UPlot;
    try {
      UPlot = await loadUPlot();
    } catch (error) {
      this.chartNode.replaceChildren(el("p", { class: "form-error" }, `Cannot draw the chart: ${error.message}.`));
      return;
    }
    const series = this.stats.series;
    const times = series.map((bucket) => new Date(bucket.start).getTime() / 1000);
    const avg = series.map((bucket) => bucket.avg_latency_ms);
    const p95 = series.map((bucket) => bucket.p95_latency_ms);
    const colors = getComputedStyle(document.documentElement);
    const color = (name) => colors.getPropertyValue(name).trim();
    const axis = { stroke: color("--muted"), grid: { stroke: color("--border"), width: 1 }, ticks: { stroke: color("--border") } };
    const options = {
      width: Math.max(this.chartNode.clientWidth, 200),
      height: 220,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (_, min, max) => [0, Math.max(max * 1.1, 10)] } },
      axes: [axis, { ...axis, size: 60, values: (_, ticks) => ticks.map((tick) => formatLatency(tick)) }],
      series: [
        { value: (_, value) => (value === null ? "—" : formatShortDateTime(new Date(value * 1000).toISOString())) },
        { label: "Average", stroke: color("--accent"), width: 2, points: { show: series.length <= 48 },
          value: (_, value) => formatLatency(value === null ? null : Math.round(value)) },
        { label: "p95", stroke: color("--pending"), width: 1.5, dash: [6, 4], points: { show: false },
          value: (_, value) => formatLatency(value === null ? null : Math.round(value)) },
      ],
    };
    this.chart?.destroy();
    this.chartNode.replaceChildren();
    this.chart = new UPlot(options, [times, avg, p95], this.chartNode);
    this.chartNode.setAttribute("aria-label", this.stats.avg_latency_ms === null
      ? "Latency chart: no successful checks in this window."
      : `Latency chart: average ${formatLatency(Math.round(this.stats.avg_latency_ms))}, ` +
        `95th percentile ${formatLatency(Math.round(this.stats.p95_latency_ms))}.`);
  }

  resizeChart() {
    if (this.chart) this.chart.setSize({ width: Math.max(this.chartNode.clientWidth, 200), height: 220 });
  }

  async loadResults({ older = false } = {}) {
    if (!this.service.check) return;
    const params = new URLSearchParams({ limit: String(RESULTS_PAGE) });
    if (older && this.oldestResult) {
      params.set("until", this.oldestResult);
      params.set("since", new Date(Date.now() - 400 * 86400 * 1000).toISOString());
    }
    let results;
    try {
      results = await api.get(`/services/${this.id}/results?${params}`);
    } catch (error) {
      toast(`Cannot load the results: ${error.message}`, "error");
      return;
    }
    const rows = results.map((result) => resultRow(result));
    if (older) this.resultsBody.append(...rows);
    else this.resultsBody.replaceChildren(...rows);
    if (!this.resultsBody.children.length) {
      this.resultsBody.append(el("tr", { class: "empty-row" }, el("td", { colspan: 5 }, "No checks in the last 24 hours.")));
    }
    if (results.length) this.oldestResult = results[results.length - 1].checked_at;
    this.olderResults.hidden = results.length < RESULTS_PAGE;
  }

  addResult(result) {
    if (this.resultsBody.querySelector(`tr[data-at="${CSS.escape(result.checked_at)}"]`)) return;
    this.resultsBody.querySelector(".empty-row")?.remove();
    this.resultsBody.prepend(resultRow(result));
    while (this.resultsBody.children.length > 200) this.resultsBody.lastElementChild.remove();
  }

  async loadIncidents() {
    let incidents;
    try {
      incidents = await api.get(`/incidents?service_id=${this.id}&limit=50`);
    } catch (error) {
      this.incidentsNode.replaceChildren(el("li", { class: "form-error" }, `Cannot load the incidents: ${error.message}`));
      return;
    }
    this.incidentsNode.replaceChildren(...(incidents.length
      ? incidents.map((incident) => incidentItem(incident))
      : [el("li", { class: "muted" }, "No incidents: it has not been down.")]));
  }

  /** Incidents are written with the next batch, a moment after the state change is announced. */
  incidentsSoon() {
    clearTimeout(this.incidentsTimer);
    this.incidentsTimer = setTimeout(() => this.loadIncidents(), 1500);
  }

  onEvent(event) {
    if (event.service_id !== this.id || !this.service) return;
    if (event.kind === "result" && event.result) {
      Object.assign(this.service.status, {
        last_checked_at: event.result.checked_at,
        last_latency_ms: event.result.latency_ms,
        last_error: event.result.error,
      });
      this.addResult(event.result);
      this.renderStatus();
      // Stats come from rollups written in batches: catch up a moment later, once per burst.
      clearTimeout(this.statsTimer);
      this.statsTimer = setTimeout(() => this.loadStats(), 3000);
    } else if (event.kind === "state_changed" && event.state) {
      Object.assign(this.service.status, { state: event.state, since: event.at });
      this.renderHeader();
      this.incidentsSoon();
    }
  }
}

function resultRow(result) {
  return el("tr", { dataset: { at: result.checked_at }, class: result.ok ? "result-ok" : "result-failed" },
    el("td", {}, el("time", { datetime: result.checked_at, title: formatDateTime(result.checked_at) }, formatMoment(result.checked_at))),
    el("td", {}, el("span", { class: `badge badge-${result.ok ? "up" : "down"}` }, result.ok ? "OK" : "Failed")),
    el("td", { class: "number" }, formatLatency(result.latency_ms)),
    el("td", { class: "number" }, result.status_code === null ? "—" : String(result.status_code)),
    el("td", { class: "result-error" }, result.error ?? ""));
}

function incidentItem(incident) {
  const open = incident.ended_at === null;
  const duration = open
    ? `Ongoing for ${formatDuration((Date.now() - new Date(incident.started_at).getTime()) / 1000)}`
    : `Down for ${formatDuration(incident.duration_s)}`;
  return el("li", { class: open ? "incident incident-open" : "incident" },
    el("p", { class: "incident-duration" }, duration),
    el("p", { class: "incident-times" },
      el("time", { datetime: incident.started_at }, formatDateTime(incident.started_at)),
      open ? " — now" : " — ",
      open ? null : el("time", { datetime: incident.ended_at }, formatDateTime(incident.ended_at))),
    el("p", { class: "incident-cause" }, incident.cause));
}
