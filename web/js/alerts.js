// Alerts (/alerts): notification channels with a form per kind, a Test button that shows the provider's reply,
// which groups each channel hears, and the delivery log with every attempt and "Send again". Secrets come back
// from the server as "(hidden)"; left as they are, the server keeps the stored ones.

import * as api from "./api.js";
import { el, formatDateTime, toast } from "./dom.js";
import { checkbox, confirmDelete, field, input, openDialog, select } from "./forms.js";
import { canEdit } from "./session.js";

/** Each kind's settings: [name, label, options]. */
export const KINDS = {
  webhook: { label: "Webhook (JSON POST)", fields: [
    ["url", "URL", { secret: true, placeholder: "https://example.org/hooks/homewatch" }],
    ["secret", "Signing secret", { secret: true, optional: true, hint: "Signs each body with HMAC-SHA256 (X-Homewatch-Signature)." }],
  ] },
  ntfy: { label: "ntfy", fields: [
    ["server_url", "Server", { optional: true, placeholder: "https://ntfy.sh" }],
    ["topic", "Topic", { placeholder: "homelab-alerts" }],
    ["token", "Access token", { secret: true, optional: true }],
    ["priority", "Priority of down alerts (1–5)", { optional: true, number: true, placeholder: "4" }],
  ] },
  discord: { label: "Discord", fields: [["webhook_url", "Webhook URL", { secret: true, placeholder: "https://discord.com/api/webhooks/…" }]] },
  slack: { label: "Slack", fields: [["webhook_url", "Webhook URL", { secret: true, placeholder: "https://hooks.slack.com/services/…" }]] },
  gotify: { label: "Gotify", fields: [
    ["server_url", "Server", { placeholder: "https://gotify.home.lan" }],
    ["token", "Application token", { secret: true }],
    ["priority", "Priority of down alerts (0–10)", { optional: true, number: true, placeholder: "8" }],
  ] },
  telegram: { label: "Telegram", fields: [
    ["bot_token", "Bot token", { secret: true, placeholder: "123456:ABC-DEF…" }],
    ["chat_id", "Chat id", { placeholder: "-1001234567890 or @channel" }],
    ["server_url", "Bot API server", { optional: true, placeholder: "https://api.telegram.org" }],
  ] },
  pushover: { label: "Pushover", fields: [
    ["app_token", "Application token", { secret: true }],
    ["user_key", "User or group key", { secret: true }],
    ["device", "Device", { optional: true }],
    ["server_url", "API server", { optional: true, placeholder: "https://api.pushover.net" }],
  ] },
  matrix: { label: "Matrix", fields: [
    ["homeserver_url", "Homeserver", { placeholder: "https://matrix.example.org" }],
    ["access_token", "Access token", { secret: true }],
    ["room_id", "Room id", { placeholder: "!abcdef:example.org" }],
  ] },
  email: { label: "Email (SMTP)", fields: [
    ["host", "SMTP server", { placeholder: "smtp.example.org" }],
    ["security", "Security", { choices: [["starttls", "STARTTLS (port 587)"], ["tls", "TLS (port 465)"], ["none", "None (local relay only)"]] }],
    ["port", "Port", { optional: true, number: true, placeholder: "587" }],
    ["username", "User name", { optional: true }],
    ["password", "Password", { secret: true, optional: true }],
    ["from", "From", { placeholder: "Homewatch <homewatch@example.org>" }],
    ["to", "To", { list: true, placeholder: "you@example.org, ops@example.org" }],
  ] },
  apprise: { label: "Apprise API (any other service)", fields: [
    ["server_url", "Apprise API server", { placeholder: "http://apprise.home.lan:8000" }],
    ["key", "Configuration key", { optional: true, hint: "A configuration stored on the Apprise server; or give URLs." }],
    ["urls", "Apprise URLs", { secret: true, optional: true, placeholder: "tgram://…, mailto://…" }],
    ["tag", "Tag", { optional: true }],
  ] },
};

const EVENTS = { down: "Down", up: "Up", reminder: "Reminder", flapping: "Flapping", test: "Test" };

export function mountAlerts(main) {
  const view = new AlertsView(main);
  view.start();
  return view;
}

class AlertsView {
  constructor(main) {
    this.main = main;
  }

  start() {
    document.title = "Alerts · Homewatch";
    this.channelsBody = el("tbody");
    this.logBody = el("tbody");
    const add = canEdit()
      ? el("button", { type: "button", class: "button button-primary", id: "add-channel", onclick: () => this.edit(null) }, "Add channel")
      : null;
    const refresh = el("button", { type: "button", class: "button button-small", onclick: () => this.loadLog() }, "Refresh");
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      el("h1", {}, "Alerts"),
      el("section", { class: "panel", "aria-labelledby": "channels-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "channels-heading" }, "Notification channels"), add),
        el("p", { class: "muted" }, "Who hears that a tile went down or came back up. A tile tells a channel once per change, " +
          "never while it is pending or in maintenance; alerts that cannot be delivered are retried for a day."),
        el("div", { class: "table-wrap" }, el("table", { class: "results channels" },
          el("thead", {}, el("tr", {}, ...["Name", "Kind", "Hears", "Reminders", ""].map((h) => el("th", {}, h)))),
          this.channelsBody))),
      el("section", { class: "panel", "aria-labelledby": "log-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "log-heading" }, "Delivery log"), refresh),
        el("div", { class: "table-wrap" }, el("table", { class: "results deliveries" },
          el("thead", {}, el("tr", {}, ...["When", "Tile", "Channel", "Event", "Outcome", "Attempts", ""].map((h) => el("th", {}, h)))),
          this.logBody))));
    this.load();
  }

  async load() {
    try {
      [this.channels, this.groups] = await Promise.all([api.get("/channels"), api.get("/groups")]);
    } catch (error) {
      this.channelsBody.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, error.message)));
      return;
    }
    this.renderChannels();
    this.loadLog();
  }

  renderChannels() {
    if (!this.channels.length) {
      this.channelsBody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No channels yet.")));
      return;
    }
    const groupName = (id) => this.groups.find((g) => g.id === id)?.name ?? `group ${id}`;
    this.channelsBody.replaceChildren(...this.channels.map((channel) => {
      const hears = channel.all_tiles
        ? "All tiles"
        : [...channel.groups.map(groupName), channel.services.length ? `${channel.services.length} tile(s)` : null]
          .filter(Boolean).join(", ") || "Nothing yet";
      const actions = canEdit()
        ? el("td", { class: "actions" },
          el("button", { type: "button", class: "button button-small", dataset: { test: channel.id }, onclick: () => this.test(channel) }, "Test"),
          el("button", { type: "button", class: "button button-small", dataset: { edit: channel.id }, onclick: () => this.edit(channel) }, "Edit"),
          el("button", { type: "button", class: "button button-small button-danger", onclick: () => this.remove(channel) }, "Delete"))
        : el("td");
      return el("tr", { dataset: { channel: channel.id } },
        el("td", {}, channel.name, channel.enabled ? null : el("span", { class: "muted" }, " (disabled)")),
        el("td", {}, KINDS[channel.settings.kind]?.label ?? channel.settings.kind),
        el("td", {}, hears),
        el("td", {}, channel.remind_every_min ? `every ${channel.remind_every_min} min` : "—"),
        actions,
        el("td", { class: "test-reply", hidden: true }));
    }));
  }

  async test(channel) {
    const row = this.channelsBody.querySelector(`[data-channel="${channel.id}"]`);
    const reply = row.querySelector(".test-reply");
    reply.hidden = false;
    reply.textContent = "Sending…";
    try {
      const result = await api.post(`/channels/${channel.id}/test`);
      reply.textContent = `${result.ok ? "Delivered" : "Not delivered"} (${result.duration_ms} ms): ${result.detail}`;
      reply.className = `test-reply ${result.ok ? "test-ok" : "test-failed"}`;
    } catch (error) {
      reply.textContent = error.message;
      reply.className = "test-reply test-failed";
    }
  }

  async remove(channel) {
    const confirmed = await confirmDelete({
      title: `Delete channel “${channel.name}”?`,
      message: "It will be told nothing more; its past deliveries stay in the log.",
    });
    if (!confirmed) return;
    await api.del(`/channels/${channel.id}`).catch((error) => toast(error.message, "error"));
    this.load();
  }

  async edit(channel) {
    const saved = await channelForm({ channel, groups: this.groups });
    if (saved) {
      toast(channel ? `Saved “${saved.name}”.` : `Added “${saved.name}”.`);
      this.load();
    }
  }

  async loadLog() {
    let entries;
    try {
      entries = await api.get("/notifications?limit=100");
    } catch (error) {
      this.logBody.replaceChildren(el("tr", {}, el("td", { colspan: 7 }, error.message)));
      return;
    }
    if (!entries.length) {
      this.logBody.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "Nothing sent yet.")));
      return;
    }
    this.logBody.replaceChildren(...entries.map((entry) => {
      const last = entry.attempts[entry.attempts.length - 1];
      const attempts = el("details", {}, el("summary", {}, `${entry.attempts.length}`),
        el("ol", { class: "attempts" }, ...entry.attempts.map((attempt) => el("li", {},
          `${formatDateTime(attempt.at)}: ${attempt.ok ? "delivered" : "failed"}`,
          attempt.status_code ? ` (${attempt.status_code})` : "", ` — ${attempt.detail}`))));
      const again = canEdit() && entry.status !== "pending" && entry.channel_id !== null
        ? el("button", { type: "button", class: "button button-small", dataset: { resend: entry.id }, onclick: async () => {
          try {
            await api.post(`/notifications/${entry.id}/resend`);
            toast("Sent again.");
            setTimeout(() => this.loadLog(), 1000);
          } catch (error) {
            toast(error.message, "error");
          }
        } }, "Send again")
        : null;
      const outcome = entry.status === "pending" && entry.next_attempt_at
        ? `Pending, next try ${formatDateTime(entry.next_attempt_at)}`
        : { delivered: "Delivered", failed: "Failed", pending: "Pending" }[entry.status];
      return el("tr", { dataset: { notification: entry.id, status: entry.status } },
        el("td", {}, formatDateTime(entry.created_at)),
        el("td", {}, entry.service_id ? el("a", { href: `/services/${entry.service_id}`, "data-link": "" }, entry.service_name) : entry.service_name),
        el("td", {}, entry.channel_name),
        el("td", {}, EVENTS[entry.event] ?? entry.event, entry.cause ? el("div", { class: "result-error" }, entry.cause) : null),
        el("td", { class: `outcome outcome-${entry.status}` }, outcome, last && !last.ok ? el("div", { class: "result-error" }, last.detail) : null),
        el("td", {}, attempts),
        el("td", {}, again));
    }));
  }
}

/** Adds a channel (no `channel`) or edits one; resolves with the saved channel or null. */
export function channelForm({ channel = null, groups }) {
  const settings = channel?.settings ?? { kind: "webhook" };
  const name = field("name", "Name", input({ required: true, maxlength: 100, autofocus: true, placeholder: "Phone" }));
  name.input.value = channel?.name ?? "";
  const kind = field("settings.kind", "Kind", select(Object.entries(KINDS).map(([value, { label }]) => [value, label]), settings.kind));
  const kindFields = el("div", { class: "kind-fields" });
  let current = {};
  const showKind = () => {
    const chosen = kind.input.value;
    current = {};
    const same = chosen === settings.kind;
    kindFields.replaceChildren(...KINDS[chosen].fields.map(([key, label, options = {}]) => {
      const control = options.choices ? select(options.choices, same ? settings[key] : undefined)
        : input({ placeholder: options.placeholder ?? "", inputmode: options.number ? "numeric" : null });
      const hint = options.hint ?? (options.secret && same && settings[key] ? "Stored; leave as it is to keep it." : null);
      const wrapper = field(`settings.${key}`, options.optional ? `${label} (optional)` : label, control, { hint });
      if (same && settings[key] !== undefined && settings[key] !== null && !options.choices) {
        control.value = Array.isArray(settings[key]) ? settings[key].join(", ") : String(settings[key]);
      }
      current[key] = { wrapper, options };
      return wrapper;
    }));
  };
  kind.input.addEventListener("change", showKind);
  showKind();
  const allTiles = field("all_tiles", "All tiles, also those added later", checkbox(channel?.all_tiles ?? true));
  const groupBoxes = groups.map((group) => {
    const box = checkbox(channel?.groups?.includes(group.id) ?? false);
    box.value = String(group.id);
    return el("label", { class: "choice" }, box, " ", group.name);
  });
  const groupField = el("fieldset", { class: "choices", dataset: { field: "groups" } },
    el("legend", {}, "Or only these groups"), ...groupBoxes);
  const showGroups = () => {
    groupField.disabled = allTiles.input.checked;
  };
  allTiles.input.addEventListener("change", showGroups);
  showGroups();
  const remind = field("remind_every_min", "Remind every (minutes, optional)", input({ inputmode: "numeric", placeholder: "60" }),
    { hint: "While a tile stays down; at least 5." });
  remind.input.value = channel?.remind_every_min ?? "";
  const enabled = field("enabled", "Enabled", checkbox(channel?.enabled ?? true));
  const form = el("form", { class: "channel-form" }, name, kind, kindFields,
    el("fieldset", { class: "monitoring" }, el("legend", {}, "Which tiles"), allTiles, groupField), remind, enabled);

  const submit = () => {
    const body = { name: name.input.value, settings: { kind: kind.input.value } };
    for (const [key, { wrapper, options }] of Object.entries(current)) {
      const value = wrapper.input.value.trim();
      if (!value && options.optional) continue;
      if (options.list) body.settings[key] = value.split(",").map((item) => item.trim()).filter(Boolean);
      else if (options.number && /^\d+$/.test(value)) body.settings[key] = Number(value);
      else body.settings[key] = value;
    }
    body.all_tiles = allTiles.input.checked;
    body.groups = allTiles.input.checked ? [] : groupBoxes.map((label) => label.querySelector("input"))
      .filter((box) => box.checked).map((box) => Number(box.value));
    const minutes = remind.input.value.trim();
    body.remind_every_min = minutes ? (/^\d+$/.test(minutes) ? Number(minutes) : minutes) : null;
    body.enabled = enabled.input.checked;
    return channel ? api.patch(`/channels/${channel.id}`, body) : api.post("/channels", body);
  };
  return openDialog({
    title: channel ? `Edit channel “${channel.name}”` : "Add a notification channel",
    form,
    submitLabel: channel ? "Save" : "Add channel",
    submit,
  });
}
