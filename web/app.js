// Placeholder start page: lists groups and their tiles from GET /api/v1/dashboard.
// Every value from the API is written with textContent, never as HTML.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child);
  return node;
}

function isImageUrl(icon) {
  return /^https?:\/\//i.test(icon || "");
}

function tile(service) {
  const icon = service.icon
    ? isImageUrl(service.icon)
      ? el("img", { src: service.icon, alt: "", class: "icon", loading: "lazy" })
      : el("span", { class: "icon", "aria-hidden": "true" }, service.icon)
    : el("span", { class: "icon", "aria-hidden": "true" }, service.name.slice(0, 1).toUpperCase());
  const state = service.check ? service.status.state : "not monitored";
  const link = el("a", { href: service.url, target: "_blank", rel: "noopener noreferrer", class: "tile" },
    icon,
    el("span", { class: "name" }, service.name),
    el("span", { class: `state state-${state.replace(" ", "-")}` }, state +
      (service.uptime_24h == null ? "" : ` · ${service.uptime_24h.toFixed(1)}% 24 h`) +
      (service.status.last_latency_ms == null ? "" : ` · ${service.status.last_latency_ms} ms`)));
  if (service.description) link.append(el("span", { class: "description" }, service.description));
  if (service.tags.length) link.append(el("span", { class: "tags" }, service.tags.join(" · ")));
  return el("li", { "data-service-id": String(service.id) }, link);
}

function render(dashboard) {
  const main = document.getElementById("groups");
  const services = dashboard.groups.flatMap((group) => group.services);
  const count = (state) => services.filter((s) => s.check && s.status.state === state).length;
  document.getElementById("summary").textContent =
    `${dashboard.groups.length} group(s), ${services.length} service(s): ${count("up")} up, ` +
    `${count("down")} down, ${count("pending")} pending, ${count("paused")} paused.`;
  if (!dashboard.groups.length) {
    main.replaceChildren(el("p", { class: "empty" },
      "No groups yet. Add one with POST /api/v1/groups (see the API docs)."));
    return;
  }
  main.replaceChildren(...dashboard.groups.map((group) =>
    el("section", { class: "group", "data-group-id": String(group.id) },
      el("h2", {}, group.name),
      group.services.length
        ? el("ul", { class: "tiles" }, ...group.services.map(tile))
        : el("p", { class: "empty" }, "No services in this group."))));
}

async function load() {
  try {
    const response = await fetch("/api/v1/dashboard", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`the server answered ${response.status}`);
    render(await response.json());
  } catch (err) {
    document.getElementById("summary").textContent = `Cannot load the dashboard: ${err.message}`;
  }
}

load();
