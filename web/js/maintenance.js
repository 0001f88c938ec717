// Maintenance (/maintenance): windows going on now and planned ones, a form to plan one (once, weekly,
// monthly, or any RRULE, in a time zone) or start one now, and deleting one (a window going on ends now).

import * as api from "./api.js";
import { el, formatDateTime, toast } from "./dom.js";
import { checkbox, confirmDelete, field, input, openDialog, select } from "./forms.js";
import { canEdit } from "./session.js";

const WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

export function mountMaintenance(main) {
  const view = new MaintenanceView(main);
  view.start();
  return view;
}

/** "Weekly (FREQ=WEEKLY;BYDAY=SU)" and the like, for the list. */
function describeRule(rule) {
  if (!rule) return "Once";
  if (/^FREQ=WEEKLY(;BYDAY=[A-Z]{2})?$/.test(rule)) return `Weekly (${rule})`;
  if (/^FREQ=MONTHLY/.test(rule)) return `Monthly (${rule})`;
  return rule;
}

class MaintenanceView {
  constructor(main) {
    this.main = main;
  }

  start() {
    document.title = "Maintenance · Homewatch";
    this.body = el("tbody");
    const plan = canEdit()
      ? el("button", { type: "button", class: "button button-primary", id: "plan-maintenance", onclick: () => this.plan() }, "Plan maintenance")
      : null;
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      el("h1", {}, "Maintenance"),
      el("section", { class: "panel", "aria-labelledby": "windows-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "windows-heading" }, "Maintenance windows"), plan),
        el("p", { class: "muted" }, "During a window its tiles show “Maintenance”, checks still run and are kept, nobody is " +
          "notified, and uptime leaves the time out. When it ends, people hear only of a state that differs from before it."),
        el("div", { class: "table-wrap" }, el("table", { class: "results windows" },
          el("thead", {}, el("tr", {}, ...["Title", "Now", "Current or next", "Repeats", "Covers", ""].map((h) => el("th", {}, h)))),
          this.body))));
    this.load();
  }

  async load() {
    let windows;
    try {
      [windows, this.groups] = await Promise.all([api.get("/maintenance"), api.get("/groups")]);
    } catch (error) {
      this.body.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, error.message)));
      return;
    }
    if (!windows.length) {
      this.body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No maintenance planned.")));
      return;
    }
    const groupName = (id) => this.groups.find((g) => g.id === id)?.name ?? `group ${id}`;
    this.body.replaceChildren(...windows.map((window) => el("tr", { dataset: { window: window.id, active: window.active } },
      el("td", {}, window.title),
      el("td", {}, window.active ? el("span", { class: "badge badge-maintenance" }, "Active") : "Upcoming"),
      el("td", {}, window.current_or_next_start
        ? `${formatDateTime(window.current_or_next_start)} – ${formatDateTime(window.current_or_next_end)}`
        : "No occurrence left"),
      el("td", {}, describeRule(window.rrule), window.rrule ? el("div", { class: "muted" }, window.timezone) : null),
      el("td", {}, window.all_tiles ? "All tiles"
        : [...window.groups.map(groupName), window.services.length ? `${window.services.length} tile(s)` : null].filter(Boolean).join(", ")),
      el("td", {}, canEdit() ? el("button", { type: "button", class: "button button-small button-danger", onclick: () => this.remove(window) },
        window.active ? "End now" : "Delete") : null))));
  }

  async remove(window) {
    const confirmed = await confirmDelete({
      title: `${window.active ? "End" : "Delete"} “${window.title}”?`,
      message: window.active ? "The window ends now and its tiles show their state again." : "The window is removed.",
      confirmLabel: window.active ? "End now" : "Delete",
    });
    if (!confirmed) return;
    await api.del(`/maintenance/${window.id}`).catch((error) => toast(error.message, "error"));
    this.load();
  }

  async plan() {
    const saved = await maintenanceForm({ groups: this.groups });
    if (saved) {
      toast(`Planned “${saved.title}”.`);
      this.load();
    }
  }
}

/** The browser's time zone, as the default for repeating windows. */
function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

export function maintenanceForm({ groups }) {
  const title = field("title", "Title", input({ required: true, maxlength: 100, autofocus: true, placeholder: "Nightly backups" }));
  const start = field("starts_at", "Starts", el("input", { type: "datetime-local" }), { hint: "Leave empty to start now." });
  const duration = field("duration_min", "Lasts (minutes)", input({ inputmode: "numeric", placeholder: "60" }));
  const repeat = field("repeat", "Repeats", select([["", "Once"], ["weekly", "Every week"], ["monthly", "Every month"], ["rrule", "Custom rule (RRULE)"]], ""));
  const day = field("day", "On", select(WEEKDAYS.map((d) => [d, d]), "SU"));
  const rule = field("rrule", "Rule", input({ placeholder: "FREQ=WEEKLY;BYDAY=SA,SU" }), { hint: "RFC 5545, at most hourly." });
  const zone = field("timezone", "Time zone", input({ placeholder: "Europe/Berlin" }), { hint: "The local time the window keeps across daylight-saving changes." });
  zone.input.value = localZone();
  const allTiles = field("all_tiles", "All tiles", checkbox(true));
  const groupBoxes = groups.map((group) => {
    const box = checkbox(false);
    box.value = String(group.id);
    return el("label", { class: "choice" }, box, " ", group.name);
  });
  const groupField = el("fieldset", { class: "choices", dataset: { field: "groups" } }, el("legend", {}, "Or only these groups"), ...groupBoxes);
  const sync = () => {
    day.hidden = repeat.input.value !== "weekly";
    rule.hidden = repeat.input.value !== "rrule";
    zone.hidden = repeat.input.value === "";
    groupField.disabled = allTiles.input.checked;
  };
  repeat.input.addEventListener("change", sync);
  allTiles.input.addEventListener("change", sync);
  sync();
  const form = el("form", { class: "maintenance-form" }, title, start, duration, repeat, day, rule, zone,
    el("fieldset", { class: "monitoring" }, el("legend", {}, "Which tiles"), allTiles, groupField));
  const submit = () => {
    const body = { title: title.input.value };
    if (start.input.value) body.starts_at = new Date(start.input.value).toISOString();
    const minutes = duration.input.value.trim();
    if (minutes) body.duration_min = /^\d+$/.test(minutes) ? Number(minutes) : minutes;
    const chosen = repeat.input.value;
    if (chosen === "weekly") body.rrule = `FREQ=WEEKLY;BYDAY=${day.input.value}`;
    if (chosen === "monthly") body.rrule = "FREQ=MONTHLY";
    if (chosen === "rrule") body.rrule = rule.input.value.trim();
    if (chosen) body.timezone = zone.input.value.trim();
    body.all_tiles = allTiles.input.checked;
    if (!body.all_tiles) {
      body.groups = groupBoxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => Number(box.value));
    }
    return api.post("/maintenance", body);
  };
  return openDialog({ title: "Plan maintenance", form, submitLabel: "Plan", submit });
}
