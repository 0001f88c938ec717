// Small helpers to build the page: elements (text is always set as text, never parsed as HTML), and the
// formatting of times, durations and numbers in the viewer's own locale and time zone.

/**
 * Creates an element. `props` sets attributes, except `class`, `text`, `on*` handlers and `dataset`;
 * children are nodes or strings (strings become text nodes).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  applyProps(node, props);
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, props = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  applyProps(node, props);
  node.append(...children.filter(Boolean));
  return node;
}

function applyProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.setAttribute("class", value);
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
}

/** Moves keyboard focus without scrolling the page when the element is already visible. */
export function focus(node) {
  if (node) node.focus({ preventScroll: false });
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const shortDateTime = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const dayOnly = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

/** A moment in the viewer's local time zone, such as `27 Nov 2026, 14:03:05`. */
export function formatDateTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : "—";
}

export function formatShortDateTime(iso) {
  return iso ? shortDateTime.format(new Date(iso)) : "—";
}

/** A recent moment compactly: the time alone today, with the day before that. */
export function formatMoment(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return sameDay ? timeOnly.format(date) : `${dayOnly.format(date)}, ${timeOnly.format(date)}`;
}

export function formatTime(date) {
  return timeOnly.format(date);
}

/** `3 minutes ago`, `in 2 hours`. */
export function formatRelative(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units = [
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return Math.abs(seconds) < 5 ? "just now" : relative.format(seconds, "second");
}

/** A length of time in seconds as `2 d 3 h`, `4 h 12 min`, `35 s`. */
export function formatDuration(totalSeconds) {
  if (totalSeconds === null || totalSeconds === undefined) return "—";
  const s = Math.max(0, Math.round(totalSeconds));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (days) return hours ? `${days} d ${hours} h` : `${days} d`;
  if (hours) return minutes ? `${hours} h ${minutes} min` : `${hours} h`;
  if (minutes) return `${minutes} min`;
  return `${s} s`;
}

export function formatLatency(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${integer.format(ms)} ms`;
}

/** Uptime as `99.95 %`: two decimals, so a year's worth of small outages still shows. */
export function formatPercent(value) {
  if (value === null || value === undefined) return "—";
  if (value === 100) return "100 %";
  return `${(Math.floor(value * 100) / 100).toFixed(2)} %`;
}

export function formatCount(value) {
  return integer.format(value);
}

/** Text for a state, with its first letter upper-case: colour is never the only signal. */
export const STATE_LABELS = {
  up: "Up",
  down: "Down",
  pending: "Pending",
  paused: "Paused",
  maintenance: "Maintenance",
  degraded: "Degraded",
  unknown: "Not checked yet",
  unmonitored: "Not monitored",
};

/** The state a tile shows: `unmonitored` when it has no check. */
export function displayState(service) {
  return service.check ? service.status.state : "unmonitored";
}

/** The badge for a state: a coloured dot and the state in words. */
export function stateBadge(state) {
  return el("span", { class: `badge badge-${state}`, dataset: { state } }, STATE_LABELS[state] || state);
}

/** Says something to screen-reader users without moving focus. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick is announced even when the message repeats.
  setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** A short message in the corner; errors stay until dismissed. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const close = el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
  const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    el("span", {}, message), close);
  close.addEventListener("click", () => item.remove());
  region.append(item);
  if (kind !== "error") setTimeout(() => item.remove(), 5000);
}
