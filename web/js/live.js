// Live updates for every view, from GET /api/v1/events.
//
// Browsers allow only six HTTP/1.1 connections to one server, and an event stream holds one open for good: with
// Homewatch as a start page, the seventh tab would hang. So the tabs of a browser elect one leader over a
// BroadcastChannel; only the leader holds the EventSource and it relays every event (and whether the stream is
// up) to the other tabs. When the leader closes, another tab takes over within a few seconds.
//
// When the stream drops, each tab falls back to polling (the current view says how to refresh itself) while
// the leader retries the stream with a backoff; when polling fails too, the page says the server is unreachable.

import { API } from "./api.js";
import { el, formatTime } from "./dom.js";

const POLL_EVERY_MS = 5000;
const RETRY_STREAM_MIN_MS = 2000;
const RETRY_STREAM_MAX_MS = 30000;
const HEARTBEAT_MS = 1000;
const LEADER_SILENT_MS = 3500;

const listeners = new Set();
const me = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
let channel = null;
let leader = null;
let leaderHeardAt = 0;
let heartbeatTimer = null;
let source = null;
let streamUp = false;
let poller = null;
let pollTimer = null;
let retryTimer = null;
let retryDelay = RETRY_STREAM_MIN_MS;
let mode = "connecting";
let offlineSince = null;

/** Calls `listener(event)` for every event of the stream; returns a function that stops it. */
export function onLiveEvent(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** What the current view runs to catch up: after the stream (re)opens, and every few seconds without it. */
export function setPoller(refresh) {
  poller = refresh;
}

export function liveMode() {
  return mode;
}

let started = false;

/** Starts following the event stream (once; later calls do nothing). */
export function startLive() {
  if (started) return;
  started = true;
  if (typeof BroadcastChannel !== "function") {
    becomeLeader();
    return;
  }
  channel = new BroadcastChannel("homewatch-live");
  channel.addEventListener("message", ({ data }) => onMessage(data));
  window.addEventListener("pagehide", () => {
    if (isLeader()) channel.postMessage({ type: "resign", id: me });
  });
  channel.postMessage({ type: "who" });
  // Give a leader a moment to answer before taking the part; the jitter keeps new tabs from colliding.
  setTimeout(() => {
    checkLeader();
    setInterval(checkLeader, HEARTBEAT_MS);
  }, 250 + Math.random() * 250);
}

function isLeader() {
  return leader === me;
}

function checkLeader() {
  if (!isLeader() && Date.now() - leaderHeardAt > LEADER_SILENT_MS) becomeLeader();
}

function becomeLeader() {
  leader = me;
  openStream();
  if (channel) {
    heartbeat();
    heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
  }
}

function stepDown(newLeader) {
  leader = newLeader;
  leaderHeardAt = Date.now();
  clearInterval(heartbeatTimer);
  clearTimeout(retryTimer);
  source?.close();
  source = null;
}

function heartbeat() {
  channel?.postMessage({ type: "heartbeat", id: me, streamUp });
}

function onMessage(message) {
  switch (message.type) {
    case "who":
      if (isLeader()) heartbeat();
      break;
    case "heartbeat":
      if (isLeader()) {
        // Two leaders (tabs that started together): the smaller id keeps the part.
        if (message.id < me) stepDown(message.id);
        else return;
      }
      leader = message.id;
      leaderHeardAt = Date.now();
      followStream(message.streamUp);
      break;
    case "event":
      if (!isLeader()) dispatch(message.event);
      break;
    case "opened":
      if (!isLeader()) refresh();
      break;
    case "resign":
      if (message.id === leader) {
        leaderHeardAt = 0;
        setTimeout(checkLeader, Math.random() * 300);
      }
      break;
    default:
      break;
  }
}

/** A follower mirrors the leader's stream: live when it is up, polling on its own when it is not. */
function followStream(up) {
  if (up) {
    stopPolling();
    setMode("live");
  } else {
    startPolling();
  }
}

function dispatch(event) {
  for (const listener of listeners) listener(event);
}

function openStream() {
  clearTimeout(retryTimer);
  retryTimer = null;
  source?.close();
  source = new EventSource(`${API}/events`);
  source.addEventListener("open", () => {
    retryDelay = RETRY_STREAM_MIN_MS;
    streamUp = true;
    stopPolling();
    setMode("live");
    heartbeat();
    channel?.postMessage({ type: "opened" });
    // Events sent before the stream was open (while it was down, or while this tab was still starting)
    // were never heard here: read the current state once.
    refresh();
  });
  source.addEventListener("message", (message) => {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    dispatch(event);
    channel?.postMessage({ type: "event", event });
  });
  source.addEventListener("error", () => {
    // EventSource would retry on its own, silently; take over so the page can poll meanwhile and say so.
    source?.close();
    source = null;
    streamUp = false;
    heartbeat();
    startPolling();
    if (isLeader()) retryTimer = setTimeout(openStream, retryDelay);
    retryDelay = Math.min(retryDelay * 2, RETRY_STREAM_MAX_MS);
  });
}

function startPolling() {
  if (pollTimer) return;
  refresh();
  pollTimer = setInterval(refresh, POLL_EVERY_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

/** Is the stream up, here or in the leading tab? */
function live() {
  return isLeader() ? streamUp : Date.now() - leaderHeardAt <= LEADER_SILENT_MS && !pollTimer;
}

// Refreshes may overlap (the stream's error starts one while another is in flight); only the newest one that
// has finished may set the mode, so a late answer to an older request never hides that the server is gone.
let refreshStarted = 0;
let refreshShown = 0;

async function refresh() {
  if (!poller) return;
  const mine = ++refreshStarted;
  let reached = true;
  try {
    await poller();
  } catch {
    reached = false;
  }
  if (mine < refreshShown) return;
  refreshShown = mine;
  if (reached) setMode(live() ? "live" : "polling");
  else if (!live()) setMode("offline");
}

function setMode(next) {
  if (next === "offline" && mode !== "offline") offlineSince = new Date();
  mode = next;
  const status = document.getElementById("connection");
  const banner = document.getElementById("banner");
  if (status) {
    const labels = { live: "Live", polling: "Polling", offline: "Offline", connecting: "Connecting" };
    status.dataset.mode = next;
    status.replaceChildren(el("span", { class: "dot", "aria-hidden": "true" }), labels[next]);
    status.title = {
      live: "Updates arrive as checks run",
      polling: `Live updates are interrupted; refreshing every ${POLL_EVERY_MS / 1000} s`,
      offline: "The server cannot be reached",
      connecting: "Connecting to the server",
    }[next];
  }
  if (!banner) return;
  if (next === "offline") {
    banner.hidden = false;
    banner.dataset.kind = "error";
    banner.textContent =
      `Cannot reach the Homewatch server (since ${formatTime(offlineSince)}). What you see may be out of date; ` +
      `retrying every ${POLL_EVERY_MS / 1000} seconds.`;
  } else if (next === "polling") {
    banner.hidden = false;
    banner.dataset.kind = "warning";
    banner.textContent = `Live updates are interrupted; the page refreshes every ${POLL_EVERY_MS / 1000} seconds.`;
  } else {
    banner.hidden = true;
    banner.textContent = "";
  }
}
