// Dialogs to add, edit and delete groups and tiles. The server is the one judge of what is valid: its 422
// answers name each field (`name`, `tags[1]`, `check.interval_s`) and the message is shown next to that field.

import * as api from "./api.js";
import { el, focus } from "./dom.js";

const CHECK_KINDS = [
  ["", "Not monitored (just a link)"],
  ["http", "HTTP(S) status"],
  ["keyword", "Keyword on the page"],
  ["tcp", "TCP port open"],
  ["dns", "DNS name resolves"],
  ["tls", "TLS certificate (any port)"],
  ["ping", "Ping (ICMP)"],
  ["push", "Push: a job calls Homewatch"],
];
const JSON_OPS = ["==", "!=", "<=", ">=", "<", ">", "contains", "exists"];

/** `$.status == "ok"` per line: a path, an operator, and a JSON value (text without quotes is a string). */
function parseConditions(text) {
  const conditions = [];
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const match = line.match(/^(\S+)\s+(==|!=|<=|>=|<|>|contains|exists)\s*(.*)$/);
    if (!match) {
      conditions.push({ path: line, op: "exists" });
      continue;
    }
    const [, path, op, raw] = match;
    const condition = { path, op };
    if (op !== "exists") {
      try {
        condition.value = JSON.parse(raw);
      } catch {
        condition.value = raw;
      }
    }
    conditions.push(condition);
  }
  return conditions;
}

function conditionsText(conditions) {
  return (conditions ?? []).map((c) => c.op === "exists" ? `${c.path} exists` : `${c.path} ${c.op} ${JSON.stringify(c.value)}`)
    .join("\n");
}
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const RECORD_TYPES = ["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV"];
const NEW_GROUP = "new";

let fieldCounter = 0;

/**
 * One labelled input with a hint and room for its error. `name` is the field as the API names it.
 * @returns {HTMLElement} a wrapper whose `.input` is the control
 */
export function field(name, label, control, { hint, kinds } = {}) {
  const id = `f${++fieldCounter}`;
  control.id = id;
  control.name = name;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const hintNode = hint ? el("p", { class: "field-hint", id: `${id}-hint` }, hint) : null;
  control.setAttribute("aria-describedby", [hintNode?.id, error.id].filter(Boolean).join(" "));
  const isToggle = control.type === "checkbox";
  const wrapper = el("div", { class: isToggle ? "field field-toggle" : "field", dataset: { field: name } },
    isToggle ? el("label", { for: id }, control, " ", label) : el("label", { for: id }, label),
    isToggle ? null : control, hintNode, error);
  if (kinds) wrapper.dataset.kinds = kinds.join(" ");
  wrapper.input = control;
  wrapper.error = error;
  return wrapper;
}

export const input = (props = {}) => el("input", { type: "text", autocomplete: "off", spellcheck: "false", ...props });
export const select = (options, value) => {
  const node = el("select", {}, ...options.map(([optionValue, label]) => el("option", { value: optionValue }, label)));
  node.value = value ?? options[0][0];
  return node;
};
export const checkbox = (checked) => {
  const node = el("input", { type: "checkbox" });
  node.checked = checked;
  return node;
};

/** Clears the form's errors, then shows each field error next to its field (or at the top when unknown). */
function showErrors(form, error) {
  clearErrors(form);
  const general = form.querySelector(".form-error");
  const unplaced = [];
  for (const { field: name, message } of error.fieldErrors || []) {
    const wrapper = findField(form, name);
    if (wrapper) {
      wrapper.error.hidden = false;
      wrapper.error.textContent = wrapper.error.textContent ? `${wrapper.error.textContent} ${message}` : message;
      wrapper.input.setAttribute("aria-invalid", "true");
    } else {
      unplaced.push(`${name}: ${message}`);
    }
  }
  const placed = (error.fieldErrors || []).length - unplaced.length;
  if (!placed || unplaced.length) {
    general.hidden = false;
    general.textContent = unplaced.length ? `${error.message} ${unplaced.join("; ")}` : error.message;
  }
  const firstInvalid = form.querySelector("[aria-invalid=true]");
  if (firstInvalid) {
    firstInvalid.closest("details")?.setAttribute("open", "");
    focus(firstInvalid);
  } else {
    focus(general);
  }
}

function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error, .form-error")) {
    node.hidden = true;
    node.textContent = "";
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

/** `tags[2]` is shown at `tags`, `check.headers.X-Token` at `check.headers`. */
function findField(form, name) {
  const candidates = [name, name.replace(/\[\d+\]$/, ""), name.split(".").slice(0, 2).join(".")];
  for (const candidate of candidates) {
    const wrapper = [...form.querySelectorAll(".field")].find((node) => node.dataset.field === candidate);
    if (wrapper && !wrapper.hidden) return wrapper;
  }
  return null;
}

/**
 * Sends a form once at a time: `submit` runs, then `done` with its result; an ApiError it throws is shown next
 * to the fields it names, and the form stays as it was typed.
 */
function onSubmit(form, save, submit, done) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (save.disabled) return;
    save.disabled = true;
    save.setAttribute("aria-busy", "true");
    clearErrors(form);
    try {
      await done(await submit());
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      showErrors(form, error);
    } finally {
      save.disabled = false;
      save.removeAttribute("aria-busy");
    }
  });
}

/**
 * Opens a modal dialog holding `form`; resolves with what `submit` returned, or null when cancelled.
 * `submit` throws an ApiError to keep the dialog open with the errors shown.
 */
export function openDialog({ title, form, submitLabel, submit, danger = false }) {
  return new Promise((resolve) => {
    const heading = el("h2", { id: `dialog-title-${++fieldCounter}` }, title);
    const cancel = el("button", { type: "button", class: "button" }, "Cancel");
    const save = el("button", { type: "submit", class: danger ? "button button-danger" : "button button-primary" }, submitLabel);
    const general = el("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
    form.classList.add("form");
    form.noValidate = true;
    form.prepend(heading, general);
    form.append(el("div", { class: "form-actions" }, cancel, save));
    const dialog = el("dialog", { class: "dialog", "aria-labelledby": heading.id }, form);
    let result = null;
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    onSubmit(form, save, submit, (saved) => {
      result = saved;
      dialog.close();
    });
    document.body.append(dialog);
    dialog.showModal();
    focus(form.querySelector("[autofocus]") || save);
  });
}

/**
 * Makes `form` a form on the page (not in a dialog): a heading, a place for errors, a submit button.
 * `submit` throws an ApiError to show its errors next to the fields; `done` gets what it returned.
 */
export function pageForm({ title, form, submitLabel, submit, done }) {
  const heading = title ? el("h2", {}, title) : null;
  const save = el("button", { type: "submit", class: "button button-primary" }, submitLabel);
  const general = el("p", { class: "form-error", role: "alert", tabindex: "-1", hidden: true });
  form.classList.add("form", "page-form");
  form.noValidate = true;
  form.prepend(...[heading, general].filter(Boolean));
  form.append(el("div", { class: "form-actions" }, save));
  onSubmit(form, save, submit, (result) => done?.(result));
  return form;
}

/** Asks before something is deleted; resolves true when confirmed. */
export function confirmDelete({ title, message, confirmLabel = "Delete" }) {
  const form = el("form", {}, el("p", {}, message));
  return openDialog({ title, form, submitLabel: confirmLabel, danger: true, submit: async () => true })
    .then((confirmed) => confirmed === true);
}

/** Adds a group (no `group`) or renames one; resolves with the saved group or null. */
export function groupForm(group = null) {
  const name = field("name", "Name", input({ required: true, maxlength: 100, autofocus: true, placeholder: "Media" }));
  name.input.value = group?.name ?? "";
  const form = el("form", { class: "group-form" }, name);
  return openDialog({
    title: group ? `Rename group “${group.name}”` : "Add a group",
    form,
    submitLabel: group ? "Save" : "Add group",
    submit: () => {
      const body = { name: name.input.value };
      return group ? api.patch(`/groups/${group.id}`, body) : api.post("/groups", body);
    },
  });
}

/**
 * Adds a tile (no `service`) or edits one, with its check. `groups` fill the group picker, which also offers
 * to create a new group. Resolves with the saved tile or null.
 */
export async function tileForm({ service = null, groups, groupId = null }) {
  const check = service?.check ?? null;
  // Channels the tile is told through: set here too, not only on the Alerts page.
  const channels = await api.get("/channels").catch(() => []);
  const groupOptions = groups.map((group) => [String(group.id), group.name]);
  groupOptions.push([NEW_GROUP, "New group…"]);
  const initialGroup = service?.group_id ?? groupId ?? groups[0]?.id;
  const group = field("group_id", "Group", select(groupOptions, initialGroup ? String(initialGroup) : NEW_GROUP));
  const newGroup = field("new_group", "New group name", input({ maxlength: 100, placeholder: "Media" }));
  const name = field("name", "Name", input({ required: true, maxlength: 100, autofocus: true, placeholder: "Jellyfin" }));
  const url = field("url", "URL", input({ required: true, maxlength: 2048, inputmode: "url", placeholder: "https://jellyfin.home.lan:8096" }),
    { hint: "The address the tile opens." });
  const description = field("description", "Description", input({ maxlength: 500, placeholder: "Films and shows" }));
  const icon = field("icon", "Icon", input({ maxlength: 2048, placeholder: "🎬, jellyfin, or https://…/icon.png" }),
    { hint: "An emoji, an icon name from dashboard-icons (such as jellyfin), or an image URL." });
  const tags = field("tags", "Tags", input({ placeholder: "media, video" }), { hint: "Separated by commas; used by search." });
  name.input.value = service?.name ?? "";
  url.input.value = service?.url ?? "";
  description.input.value = service?.description ?? "";
  icon.input.value = service?.icon ?? "";
  tags.input.value = (service?.tags ?? []).join(", ");

  // For a new tile, watching it is the default: that is what Homewatch is for.
  const kind = field("check.kind", "Check", select(CHECK_KINDS, service ? (check?.kind ?? "") : "http"));
  const target = field("check.target", "Target", input({ maxlength: 2048 }), { kinds: ["http", "keyword", "tcp", "dns", "tls", "ping"] });
  const interval = field("check.interval_s", "Every (seconds)", input({ inputmode: "numeric", placeholder: "60" }),
    { kinds: ["http", "keyword", "tcp", "dns", "tls", "ping", "push"], hint: "5 to 86400." });
  const timeout = field("check.timeout_s", "Timeout (seconds)", input({ inputmode: "numeric", placeholder: "10" }),
    { kinds: ["http", "keyword", "tcp", "dns", "tls", "ping"] });
  const retries = field("check.retries", "Retries before down", input({ inputmode: "numeric", placeholder: "2" }),
    { kinds: ["http", "keyword", "tcp", "dns", "tls", "ping", "push"], hint: "Failures in a row shown as pending first." });
  const degradedAbove = field("check.degraded_above_ms", "Degraded when slower than (ms)",
    input({ inputmode: "numeric", placeholder: "none" }), { kinds: ["http", "keyword", "tcp", "dns", "tls", "ping", "push"], hint: "Up, but shown amber; empty: never." });
  const certWarn = field("check.cert_warn_days", "Certificate warning (days)", input({ inputmode: "numeric", placeholder: "14" }),
    { kinds: ["http", "keyword", "tls"], hint: "Degraded, and one message, when fewer days are left; 0: never." });
  const json = field("check.json", "JSON conditions", el("textarea", { rows: 2, spellcheck: "false", placeholder: '$.status == "ok"' }),
    { kinds: ["http"], hint: `One per line: a path ($.a.b[0] or /a/b/0), an operator (${JSON_OPS.join(" ")}) and a JSON value.` });
  const schedule = field("check.schedule", "Cron schedule", input({ maxlength: 100, placeholder: "30 3 * * *" }),
    { kinds: ["push"], hint: "When the job runs (5 fields); empty: a call is expected every interval." });
  const timezone = field("check.timezone", "Time zone", input({ maxlength: 64, placeholder: "UTC" }),
    { kinds: ["push"], hint: "Of the schedule, such as Europe/Berlin." });
  timezone.input.value = check?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || "");
  const grace = field("check.grace_s", "Grace (seconds)", input({ inputmode: "numeric", placeholder: "300" }),
    { kinds: ["push"], hint: "How late a call may be before the tile is down." });
  const packets = field("check.packets", "Packets", input({ inputmode: "numeric", placeholder: "3" }), { kinds: ["ping"], hint: "1 to 20." });
  const lossDown = field("check.loss_down_pct", "Down at packet loss (%)", input({ inputmode: "numeric", placeholder: "100" }),
    { kinds: ["ping"], hint: "Some loss below this shows degraded." });
  const method = field("check.method", "Method", select(HTTP_METHODS.map((m) => [m, m]), check?.method ?? "GET"),
    { kinds: ["http", "keyword"] });
  const expectedStatus = field("check.expected_status", "Accepted status codes", input({ placeholder: "200-299" }),
    { kinds: ["http", "keyword"], hint: "Codes and ranges, such as 200-299,301." });
  const followRedirects = field("check.follow_redirects", "Follow redirects", checkbox(check?.follow_redirects ?? true),
    { kinds: ["http", "keyword"] });
  const verifyTls = field("check.verify_tls", "Verify the TLS certificate", checkbox(check?.verify_tls ?? true),
    { kinds: ["http", "keyword", "tls"] });
  const headers = field("check.headers", "Request headers", el("textarea", { rows: 2, spellcheck: "false", placeholder: "Authorization: Bearer …" }),
    { kinds: ["http", "keyword"], hint: "One per line, as Name: value." });
  const keyword = field("check.keyword", "Keyword", input({ placeholder: "Welcome" }), { kinds: ["keyword"] });
  const keywordAbsent = field("check.keyword_absent", "Up when the keyword is absent", checkbox(check?.keyword_absent ?? false),
    { kinds: ["keyword"] });
  const recordType = field("check.record_type", "Record type",
    select([["", "Any address (A or AAAA)"], ...RECORD_TYPES.map((r) => [r, r])], check?.record_type ?? ""), { kinds: ["dns"] });
  const expected = field("check.expected", "Expected value", input({ placeholder: "192.168.1.10" }),
    { kinds: ["dns"], hint: "One answer must equal this; leave empty to accept any." });
  target.input.value = check?.target ?? "";
  interval.input.value = check?.interval_s ?? "";
  timeout.input.value = check?.timeout_s ?? "";
  retries.input.value = check?.retries ?? "";
  expectedStatus.input.value = check?.expected_status ?? "";
  headers.input.value = Object.entries(check?.headers ?? {}).map(([key, value]) => `${key}: ${value}`).join("\n");
  keyword.input.value = check?.keyword ?? "";
  expected.input.value = check?.expected ?? "";
  degradedAbove.input.value = check?.degraded_above_ms ?? "";
  certWarn.input.value = check?.cert_warn_days ?? "";
  json.input.value = conditionsText(check?.json);
  packets.input.value = check?.packets ?? "";
  lossDown.input.value = check?.loss_down_pct ?? "";
  schedule.input.value = check?.schedule ?? "";
  grace.input.value = check?.grace_s ?? "";

  const checkFields = [target, interval, timeout, retries, method, expectedStatus, followRedirects, verifyTls, headers,
    keyword, keywordAbsent, recordType, expected, degradedAbove, certWarn, json, packets, lossDown, schedule, timezone, grace];
  const targetHints = {
    http: ["Leave empty to check the URL above.", "https://jellyfin.home.lan:8096/health"],
    keyword: ["Leave empty to check the URL above.", "https://jellyfin.home.lan:8096"],
    tcp: ["host:port; leave empty for the URL's host and port.", "nas.home.lan:22"],
    dns: ["A host name; leave empty for the URL's host.", "nas.home.lan"],
    tls: ["host:port; leave empty for the URL's host and port.", "nas.home.lan:443"],
    ping: ["A host name or IPv4 address; leave empty for the URL's host.", "router.home.lan"],
  };
  const advanced = el("details", { class: "advanced" }, el("summary", {}, "More check settings"),
    timeout, retries, method, expectedStatus, followRedirects, verifyTls, headers, json, recordType, expected, packets,
    lossDown, grace, degradedAbove, certWarn);
  const monitoring = el("fieldset", { class: "monitoring" }, el("legend", {}, "Monitoring"),
    kind, target, interval, schedule, timezone, keyword, keywordAbsent, advanced);

  const showKindFields = () => {
    const chosen = kind.input.value;
    for (const wrapper of checkFields) wrapper.hidden = !wrapper.dataset.kinds.split(" ").includes(chosen);
    advanced.hidden = !chosen;
    if (targetHints[chosen]) {
      const [hint, placeholder] = targetHints[chosen];
      target.querySelector(".field-hint")?.remove();
      target.input.placeholder = placeholder;
      target.insertBefore(el("p", { class: "field-hint", id: `${target.input.id}-hint` }, hint), target.error);
      target.input.setAttribute("aria-describedby", `${target.input.id}-hint ${target.error.id}`);
    }
  };
  kind.input.addEventListener("change", showKindFields);
  showKindFields();
  const showNewGroup = () => {
    newGroup.hidden = group.input.value !== NEW_GROUP;
  };
  group.input.addEventListener("change", () => {
    showNewGroup();
    if (!newGroup.hidden) focus(newGroup.input);
  });
  showNewGroup();

  const channelBoxes = channels.map((channel) => {
    const box = checkbox(channel.all_tiles || (service ? channel.services.includes(service.id) : false));
    box.value = String(channel.id);
    const viaGroup = !channel.all_tiles && service && channel.groups.includes(service.group_id);
    if (channel.all_tiles || viaGroup) {
      box.checked = true;
      box.disabled = true;
    }
    const why = channel.all_tiles ? " (all tiles)" : viaGroup ? " (through its group)" : "";
    return el("label", { class: "choice", dataset: { channel: channel.id } }, box, " ", channel.name, el("span", { class: "muted" }, why));
  });
  const notify = channels.length
    ? el("fieldset", { class: "choices notify" }, el("legend", {}, "Notify through"), ...channelBoxes)
    : null;
  const badges = field("badges", "Public badges (/badge/…/status.svg, uptime.svg, latency.svg)", checkbox(service?.badges ?? false),
    { hint: "Anyone may show this tile's state, uptime and latency (never its URL). Tiles on a published status page have them anyway." });
  // A tile kept by the server's configuration file: say so before anyone edits it.
  const managed = service?.managed
    ? el("p", { class: "managed-note", role: "note" },
      "This tile is kept by the server's configuration file (HOMEWATCH_CONFIG): changes made here are undone ",
      "the next time the file is applied. Change the file instead.")
    : null;
  const form = el("form", { class: "tile-form" }, managed,
    el("div", { class: "form-grid" }, name, group, newGroup, url, description, icon, tags), monitoring, notify, badges);

  /** After the tile is saved: add it to, or take it from, the channels whose box changed. */
  const saveChannels = async (saved) => {
    for (const label of channelBoxes) {
      const box = label.querySelector("input");
      const channel = channels.find((c) => String(c.id) === box.value);
      if (box.disabled || !channel) continue;
      const listed = channel.services.includes(saved.id);
      if (box.checked === listed) continue;
      const services = box.checked ? [...channel.services, saved.id] : channel.services.filter((id) => id !== saved.id);
      await api.patch(`/channels/${channel.id}`, { services });
    }
    return saved;
  };

  const readCheck = () => {
    const chosen = kind.input.value;
    if (!chosen) return null;
    const body = { kind: chosen };
    const text = (wrapper) => wrapper.input.value.trim();
    const number = (wrapper) => {
      const value = text(wrapper);
      if (!value) return undefined;
      // Anything that is not a whole number goes to the server as typed, which names the field.
      return /^\d+$/.test(value) ? Number(value) : value;
    };
    if (text(target) && chosen !== "push") body.target = text(target);
    const numbers = [["interval_s", interval], ["timeout_s", timeout], ["retries", retries], ["degraded_above_ms", degradedAbove]];
    if (["http", "keyword", "tls"].includes(chosen)) numbers.push(["cert_warn_days", certWarn]);
    if (chosen === "ping") numbers.push(["packets", packets], ["loss_down_pct", lossDown]);
    for (const [key, wrapper] of numbers) {
      const value = number(wrapper);
      if (value !== undefined) body[key] = value;
    }
    if (chosen === "tls") body.verify_tls = verifyTls.input.checked;
    if (chosen === "push") {
      delete body.timeout_s;
      const value = number(grace);
      if (value !== undefined) body.grace_s = value;
      if (text(schedule)) {
        body.schedule = text(schedule);
        if (text(timezone)) body.timezone = text(timezone);
      }
    }
    if (chosen === "http" && json.input.value.trim()) body.json = parseConditions(json.input.value);
    if (chosen === "http" || chosen === "keyword") {
      body.method = method.input.value;
      if (text(expectedStatus)) body.expected_status = text(expectedStatus);
      body.follow_redirects = followRedirects.input.checked;
      body.verify_tls = verifyTls.input.checked;
      body.headers = parseHeaders(headers.input.value);
    }
    if (chosen === "keyword") {
      body.keyword = keyword.input.value;
      body.keyword_absent = keywordAbsent.input.checked;
    }
    if (chosen === "dns") {
      if (recordType.input.value) body.record_type = recordType.input.value;
      if (text(expected)) body.expected = text(expected);
    }
    return body;
  };

  const submit = async () => {
    const body = {
      group_id: null,
      name: name.input.value,
      url: url.input.value,
      description: description.input.value,
      icon: icon.input.value.trim() || null,
      tags: tags.input.value.split(",").map((tag) => tag.trim()).filter(Boolean),
      check: readCheck(),
      badges: badges.input.checked,
    };
    if (group.input.value === NEW_GROUP) {
      let created;
      try {
        created = await api.post("/groups", { name: newGroup.input.value });
      } catch (error) {
        if (error instanceof api.ApiError && error.fieldErrors.length) {
          error.fieldErrors = error.fieldErrors.map((e) => ({ ...e, field: e.field === "name" ? "new_group" : e.field }));
        } else if (error instanceof api.ApiError && error.status === 409) {
          error.fieldErrors = [{ field: "new_group", message: error.message }];
        }
        throw error;
      }
      // Should the tile fail next, the group exists already: pick it rather than creating it twice.
      group.input.insertBefore(el("option", { value: String(created.id) }, created.name), group.input.lastElementChild);
      group.input.value = String(created.id);
      groups.push(created);
      showNewGroup();
    }
    body.group_id = Number(group.input.value);
    try {
      const saved = service ? await api.patch(`/services/${service.id}`, body) : await api.post("/services", body);
      return await saveChannels(saved);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 409 && !error.fieldErrors.length) {
        error.fieldErrors = [{ field: "name", message: error.message }];
      }
      throw error;
    }
  };

  return openDialog({
    title: service ? `Edit “${service.name}”` : "Add a tile",
    form,
    submitLabel: service ? "Save" : "Add tile",
    submit,
  });
}

/** Reads `Name: value` lines; a line without a colon is an error shown at the headers field. */
function parseHeaders(text) {
  const headers = {};
  const lines = text.split("\n").map((line) => line.trim()).filter(Boolean);
  for (const [index, line] of lines.entries()) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      throw new api.ApiError(422, "Please correct the marked field.", [
        { field: "check.headers", message: `Line ${index + 1} is not in the form Name: value.` },
      ]);
    }
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}
