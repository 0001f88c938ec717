// The start page: groups in order with their tiles, each tile with its state, 24 h uptime, last latency and a
// latency sparkline; a summary line; search; collapsible groups; and, in edit mode, adding, editing,
// deleting and reordering. It loads GET /dashboard once, then follows the event stream.

import * as api from "./api.js";
import {
  STATE_LABELS, announce, displayState, el, focus, formatDateTime, formatLatency, formatPercent, formatRelative,
  stateBadge, svg, toast,
} from "./dom.js";
import { confirmDelete, groupForm, tileForm } from "./forms.js";
import { onLiveEvent, setPoller } from "./live.js";
import { sortable } from "./reorder.js";
import { canEdit } from "./session.js";

const COLLAPSED_KEY = "homewatch.collapsed";
const EDITING_KEY = "homewatch.editing";
const REFRESH_EVERY_MS = 60000;
const ICON_SET = "https://cdn.jsdelivr.net/gh/homarr-labs/dashboard-icons/png/";
const SUMMARY_STATES = ["up", "degraded", "down", "pending", "maintenance", "paused", "unknown", "unmonitored"];
// A large dashboard is put on screen in steps: the first groups at once (enough to fill a screen), the rest
// in slices of about FILL_SLICE_MS each, between which the page stays responsive.
const FIRST_TILES = 300;
const FILL_SLICE_MS = 12;
// A search keystroke puts tiles back into the page a slice per frame (see applySearch): in its own frame about
// a screenful (tiles new to the page are laid out in full in their first frame, wherever they are), then more.
const REVEAL_FIRST = 40;
const REVEAL_AT_ONCE = 100;
// From this many tiles on, groups off screen are not laid out until they are scrolled near.
const MANY_TILES = 500;

export function mountDashboard(main) {
  const view = new DashboardView(main);
  view.start();
  return view;
}

/** The search text of a tile: what `/` matches against. */
function searchText(service) {
  return [service.name, service.url, service.description, ...service.tags].join("\n").toLowerCase();
}

function readCollapsed() {
  try {
    return new Set(JSON.parse(localStorage.getItem(COLLAPSED_KEY) || "[]"));
  } catch {
    return new Set();
  }
}

class DashboardView {
  constructor(main) {
    this.main = main;
    this.data = null;
    this.services = new Map();
    this.collapsed = readCollapsed();
    this.editor = canEdit();
    this.editing = this.editor && sessionStorage.getItem(EDITING_KEY) === "1";
    this.cleanups = [];
    this.busy = 0;
  }

  start() {
    document.title = "Homewatch";
    this.search = el("input", {
      type: "search", id: "search", class: "search-input", placeholder: "Search tiles…  /",
      "aria-label": "Search tiles by name, tag or URL (press / to focus)", autocomplete: "off", spellcheck: "false",
      "aria-keyshortcuts": "/",
    });
    this.matches = el("p", { class: "search-matches", role: "status", "aria-live": "polite" });
    this.summary = el("p", { class: "summary", id: "summary", role: "status", "aria-live": "polite" }, "Loading…");
    this.editToggle = el("button", { type: "button", id: "edit-toggle", class: "button", "aria-pressed": String(this.editing) }, "Edit");
    this.addTile = el("button", { type: "button", id: "add-tile", class: "button button-primary" }, "Add tile");
    this.addGroup = el("button", { type: "button", id: "add-group", class: "button" }, "Add group");
    this.groupsNode = el("div", { id: "groups", class: "groups", "aria-label": "Groups" });
    this.main.append(
      el("div", { class: "toolbar" },
        el("div", { class: "search" }, this.search),
        this.editor ? el("div", { class: "toolbar-actions" }, this.addGroup, this.addTile, this.editToggle) : null),
      this.summary, this.matches, this.groupsNode);

    this.search.addEventListener("input", () => this.applySearch());
    this.search.addEventListener("keydown", (event) => this.onSearchKey(event));
    this.editToggle.addEventListener("click", () => this.setEditing(!this.editing));
    this.addTile.addEventListener("click", () => this.openTileForm());
    this.addGroup.addEventListener("click", () => this.openGroupForm());
    this.groupsNode.addEventListener("click", (event) => this.onClick(event));
    // A tile's tooltip (its state, since when, the last check and error) is written when the pointer or the
    // focus reaches it, so it is current then, and 10,000 tiles do not format 20,000 dates up front.
    const entitle = (event) => {
      const tile = event.target.closest?.(".tile");
      const service = tile && this.services.get(Number(tile.dataset.serviceId));
      if (service) tile.title = tileTitle(service, displayState(service));
    };
    this.groupsNode.addEventListener("pointerover", entitle);
    this.groupsNode.addEventListener("focusin", entitle);
    sortable(this.groupsNode, {
      item: ".tile", handle: ".tile-handle", list: ".tiles",
      onMove: (item, from, to) => this.saveTileMove(item, from, to),
      onEnd: () => this.renderIfStale(),
    });
    sortable(this.groupsNode, {
      item: ".group", handle: ".group-handle", list: ".groups",
      onMove: (item) => this.saveGroupOrder(item),
      onEnd: () => this.renderIfStale(),
    });

    this.cleanups.push(onLiveEvent((event) => this.onEvent(event)));
    setPoller(() => this.load());
    const timer = setInterval(() => this.refresh(), REFRESH_EVERY_MS);
    this.cleanups.push(() => clearInterval(timer));
    const onVisible = () => {
      if (document.visibilityState === "visible") this.refresh();
    };
    document.addEventListener("visibilitychange", onVisible);
    this.cleanups.push(() => document.removeEventListener("visibilitychange", onVisible));
    this.setEditing(this.editing);
    this.refresh();
  }

  destroy() {
    clearTimeout(this.configTimer);
    for (const cleanup of this.cleanups) cleanup();
    setPoller(null);
  }

  focusSearch() {
    focus(this.search);
    this.search.select();
  }

  /** Is the viewer in the middle of something a re-render would disturb (a drag, a form, a save)? */
  interacting() {
    return this.busy > 0 || Boolean(document.querySelector("dialog[open]")) || document.body.classList.contains("is-dragging");
  }

  async refresh() {
    try {
      await this.load();
    } catch (error) {
      if (!this.data) this.showLoadError(error);
    }
  }

  /**
   * Fetches the dashboard; shows it now, or once the viewer is done with what they are doing. Events that
   * arrive while the answer is on its way are kept and laid over it, each only where it is newer than what
   * the answer says (reading the dashboard again instead never ended while 10,000 tiles sent events).
   */
  async load() {
    this.loading = (this.loading ?? 0) + 1;
    this.pendingEvents ??= [];
    let data;
    try {
      data = await api.get("/dashboard");
    } finally {
      this.loading -= 1;
    }
    // The same groups and tiles as on screen (the stream's catch-up read, the minute's refresh): the tiles are
    // brought up to date where they are instead of being built again (a second or more at 10,000 tiles).
    const layout = layoutOf(data);
    const inPlace = layout === this.layout;
    this.layout = layout;
    this.data = data;
    this.services = new Map(data.groups.flatMap((group) => group.services.map((service) => [service.id, service])));
    if (!this.loading) {
      const pending = this.pendingEvents;
      this.pendingEvents = [];
      for (const event of pending) this.applyEvent(event, true);
    }
    if (this.interacting()) this.stale = true;
    else if (inPlace && !this.stale) this.update();
    else this.render();
  }

  /** Brings every tile built so far, the group counts and the summary up to date with `this.data`. */
  update() {
    for (const group of this.data.groups) {
      for (const service of group.services) {
        const tile = this.tileNodes.get(service.id);
        if (tile) this.updateTile(tile, service);
      }
      const count = this.groupsNode.querySelector(`.group[data-group-id="${group.id}"] .group-count`);
      const text = groupCountText(group.services.length, countStates(group.services));
      if (count && count.textContent !== text) count.textContent = text;
    }
    this.renderSummary();
  }

  /** Writes into a tile what changed of its state, uptime, latency, certificate and sparkline. */
  updateTile(tile, service) {
    updateStatus(tile, service);
    const uptime = uptimeText(service);
    const uptimeNode = tile.querySelector(".tile-uptime");
    if (uptimeNode.textContent !== uptime) uptimeNode.textContent = uptime;
    const cert = tile.querySelector(".tile-cert");
    const nextCert = certificateBadge(service);
    if (!nextCert) cert?.remove();
    else if (!cert) tile.querySelector(".sparkline").before(nextCert);
    else if (cert.textContent !== nextCert.textContent || cert.className !== nextCert.className) cert.replaceWith(nextCert);
    if (service.check) {
      const points = service.latency_24h.join();
      if (this.sparkPoints.get(tile) !== points) {
        this.sparkPoints.set(tile, points);
        tile.querySelector(".sparkline").replaceWith(sparkline(service.latency_24h));
      }
    }
  }

  renderIfStale() {
    if (this.stale && !this.interacting()) this.render();
  }

  showLoadError(error) {
    this.summary.textContent = `Cannot load the dashboard: ${error.message}`;
  }

  setEditing(editing) {
    this.editing = editing;
    sessionStorage.setItem(EDITING_KEY, editing ? "1" : "0");
    this.editToggle.setAttribute("aria-pressed", String(editing));
    this.editToggle.textContent = editing ? "Done" : "Edit";
    this.addGroup.hidden = !editing;
    this.main.classList.toggle("editing", editing);
    if (this.data) this.render();
  }

  render() {
    this.stale = false;
    const generation = (this.renderGeneration = (this.renderGeneration ?? 0) + 1);
    const active = document.activeElement?.dataset?.key;
    const { groups } = this.data;
    this.services = new Map(groups.flatMap((group) => group.services.map((service) => [service.id, service])));
    // Each group's list and its tiles in order, whether in the page or left out by a search; each tile's search text.
    this.listTiles = new Map();
    this.searchTexts = new Map();
    this.sparkPoints = new Map();
    this.tileNodes = new Map();
    this.groupsNode.classList.toggle("many", this.services.size >= MANY_TILES);
    const later = [];
    if (!groups.length) {
      this.groupsNode.replaceChildren(this.emptyState());
    } else {
      let budget = FIRST_TILES;
      this.groupsNode.replaceChildren(...groups.map((group) => {
        const now = budget > 0;
        budget -= group.services.length;
        const section = this.groupElement(group, now);
        if (!now) later.push([group.id, section.querySelector(".tiles")]);
        return section;
      }));
    }
    this.renderSummary();
    this.applySearch();
    // For the page benchmark (benches/page.rs): when the first tiles are in the page, and when all are.
    if (!performance.getEntriesByName("homewatch:tiles").length) performance.mark("homewatch:tiles");
    if (active) focus(this.groupsNode.querySelector(`[data-key="${CSS.escape(active)}"]`));
    if (later.length) this.fillLater(later, generation);
    else this.allTilesShown();
  }

  /** Puts the tiles of the groups left out by render() into their lists, a slice at a time. */
  fillLater(later, generation) {
    const slice = () => {
      if (generation !== this.renderGeneration) return;
      const started = performance.now();
      while (later.length && performance.now() - started < FILL_SLICE_MS) {
        // From the newest answer: an update in place may have come since render().
        const [groupId, list] = later.shift();
        const group = this.data.groups.find((candidate) => candidate.id === groupId);
        const tiles = (group?.services ?? []).map((service) => this.tileElement(service));
        this.listTiles.set(list, tiles);
        list.append(...tiles);
      }
      if (later.length) {
        setTimeout(slice, 0);
      } else {
        if (this.search.value.trim()) this.applySearch();
        this.allTilesShown();
      }
    };
    setTimeout(slice, 0);
  }

  allTilesShown() {
    if (!performance.getEntriesByName("homewatch:all-tiles").length) performance.mark("homewatch:all-tiles");
  }

  emptyState() {
    if (!this.editor) {
      return el("div", { class: "empty-state" },
        el("h2", {}, "No tiles yet"),
        el("p", {}, "An admin adds the services to watch; they will appear here."));
    }
    return el("div", { class: "empty-state" },
      el("h2", {}, "Your dashboard is empty"),
      el("p", {}, "Add a tile for each service you run — Jellyfin, Nextcloud, the router, the NAS. " +
        "Homewatch opens it with one click and checks that it is up."),
      el("button", { type: "button", class: "button button-primary", "data-action": "add-tile", "data-key": "empty-add" },
        "Add your first tile"));
  }

  /** A group's section; its tiles now, or (`withTiles` false) an empty list that fillLater() fills. */
  groupElement(group, withTiles = true) {
    const collapsed = this.collapsed.has(group.id) && !this.search.value.trim();
    const listId = `group-${group.id}-tiles`;
    const counts = countStates(group.services);
    const toggle = el("button", {
      type: "button", class: "group-toggle", "aria-expanded": String(!collapsed), "aria-controls": listId,
      "data-action": "toggle-group", "data-key": `toggle-${group.id}`,
    },
    el("span", { class: "chevron", "aria-hidden": "true" }),
    el("span", { class: "group-name" }, group.name),
    el("span", { class: "group-count" }, groupCountText(group.services.length, counts)));
    const head = el("div", { class: "group-head" }, el("h2", {}, toggle));
    if (this.editing) {
      head.append(el("div", { class: "group-actions" },
        el("button", {
          type: "button", class: "icon-button group-handle", "data-key": `move-group-${group.id}`,
          "aria-label": `Move group ${group.name}: drag, or use the arrow keys`, title: "Drag to reorder",
        }, "⠿"),
        el("button", { type: "button", class: "button button-small", "data-action": "add-tile", "data-key": `add-${group.id}` },
          "Add tile"),
        el("button", { type: "button", class: "button button-small", "data-action": "rename-group", "data-key": `rename-${group.id}`,
          "aria-label": `Rename group ${group.name}` }, "Rename"),
        el("button", { type: "button", class: "button button-small button-danger", "data-action": "delete-group",
          "data-key": `delete-group-${group.id}`, "aria-label": `Delete group ${group.name}` }, "Delete")));
    }
    const items = withTiles ? group.services.map((service) => this.tileElement(service)) : [];
    const tiles = el("ul", { class: "tiles", id: listId, hidden: collapsed, dataset: { groupId: group.id } }, ...items);
    this.listTiles?.set(tiles, items);
    const empty = group.services.length ? null
      : el("p", { class: "group-empty" }, this.editing ? "No tiles yet: add one, or drag one here." : "No tiles yet.");
    return el("section", { class: "group", dataset: { groupId: group.id }, "aria-label": group.name }, head,
      collapsed ? null : empty, tiles);
  }

  tileElement(service) {
    const state = displayState(service);
    const text = searchText(service);
    const item = el("li", { class: `tile tile-${state}`, dataset: { serviceId: service.id } });
    this.searchTexts?.set(item, text);
    if (service.check) this.sparkPoints?.set(item, service.latency_24h.join());
    this.tileNodes?.set(service.id, item);
    const link = el("a", {
      class: "tile-link", href: service.url, target: "_blank", rel: "noopener noreferrer", "data-key": `open-${service.id}`,
    }, iconElement(service), el("span", { class: "tile-name" }, service.name));
    const details = el("a", {
      class: "tile-details", href: `/services/${service.id}`, "data-link": "", "data-key": `details-${service.id}`,
      "aria-label": `History of ${service.name}`, title: "History and settings",
    }, "History");
    const description = [service.description, service.tags.map((tag) => `#${tag}`).join(" ")].filter(Boolean).join(" · ");
    item.append(el("div", { class: "tile-main" }, link, stateBadge(state)));
    if (description) item.append(el("p", { class: "tile-description" }, description));
    item.append(
      el("div", { class: "tile-stats" },
        el("span", { class: "tile-uptime", title: "Uptime over the last 24 hours" },
          uptimeText(service)),
        el("span", { class: "tile-latency", title: "Latency of the last check" }, latencyText(service)),
        certificateBadge(service),
        service.check ? sparkline(service.latency_24h) : el("span", { class: "sparkline" }),
        details));
    if (this.editing) {
      item.append(el("div", { class: "tile-actions" },
        el("button", {
          type: "button", class: "icon-button tile-handle", "data-key": `move-${service.id}`,
          "aria-label": `Move ${service.name}: drag, or use the arrow keys`, title: "Drag to reorder",
        }, "⠿"),
        el("button", { type: "button", class: "button button-small", "data-action": "edit-tile", "data-key": `edit-${service.id}`,
          "aria-label": `Edit ${service.name}` }, "Edit"),
        el("button", { type: "button", class: "button button-small button-danger", "data-action": "delete-tile",
          "data-key": `delete-${service.id}`, "aria-label": `Delete ${service.name}` }, "Delete")));
    }
    return item;
  }

  renderSummary() {
    const services = [...this.services.values()];
    const counts = countStates(services);
    const parts = SUMMARY_STATES.filter((state) => counts[state])
      .map((state) => el("span", { class: `summary-item summary-${state}`, dataset: { state } },
        el("span", { class: "dot", "aria-hidden": "true" }), `${counts[state]} ${STATE_LABELS[state].toLowerCase()}`));
    const groupCount = this.data.groups.length;
    this.summary.replaceChildren(
      el("span", { class: "summary-total" },
        `${services.length} ${services.length === 1 ? "service" : "services"} in ${groupCount} ${groupCount === 1 ? "group" : "groups"}`),
      ...parts);
    const down = counts.down || 0;
    document.title = down ? `(${down} down) Homewatch` : "Homewatch";
  }

  /**
   * Shows the tiles matching the search. A tile that does not match is taken out of the page, not hidden: at
   * 10,000 tiles thousands of hidden tiles were restyled whenever their group came on screen (38 ms in one
   * frame). Tiles come back in order, a slice per frame, the first at once (putting thousands back in one
   * frame, clearing a narrow search, took 0.7 s of style and layout); a newer keystroke drops what is left.
   */
  applySearch() {
    const terms = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    const matching = new Map();
    const back = [];
    for (const [list, tiles] of this.listTiles ?? []) {
      let count = 0;
      tiles.forEach((tile, index) => {
        const text = this.searchTexts.get(tile);
        if (terms.every((term) => text.includes(term))) {
          count += 1;
          if (tile.parentNode !== list) back.push([list, tiles, index]);
        } else if (tile.parentNode === list) {
          tile.remove();
        }
      });
      matching.set(list, count);
      shown += count;
    }
    const generation = (this.searchGeneration = (this.searchGeneration ?? 0) + 1);
    const putBack = (count) => {
      if (generation !== this.searchGeneration) return;
      for (const [list, tiles, index] of back.splice(0, count)) {
        // After the nearest earlier tile in the page: tiles keep their order.
        let before = index - 1;
        while (before >= 0 && tiles[before].parentNode !== list) before -= 1;
        list.insertBefore(tiles[index], before >= 0 ? tiles[before].nextSibling : list.firstChild);
      }
      if (back.length) requestAnimationFrame(() => setTimeout(() => putBack(REVEAL_AT_ONCE), 0));
    };
    putBack(REVEAL_FIRST);
    const many = this.groupsNode.classList.contains("many");
    for (const section of this.groupsNode.querySelectorAll(".group")) {
      const list = section.querySelector(".tiles");
      const groupId = Number(section.dataset.groupId);
      const anyShown = !terms.length || (matching.get(list) ?? 0) > 0;
      const hideSection = terms.length > 0 && !anyShown;
      // With many tiles a group without matches is not taken out of the page (display: none): shown again, a
      // group is laid out in full before content-visibility knows whether it is on screen. It folds to nothing.
      if (many) section.classList.toggle("no-match", hideSection);
      else if (section.hidden !== hideSection) section.hidden = hideSection;
      // Searching looks inside collapsed groups too.
      const collapsed = !terms.length && this.collapsed.has(groupId);
      if (list.hidden !== collapsed) list.hidden = collapsed;
      section.querySelector(".group-toggle").setAttribute("aria-expanded", String(!collapsed));
      section.classList.toggle("collapsed", collapsed);
    }
    if (!terms.length) this.matches.textContent = "";
    else if (!shown) this.matches.textContent = `No tile matches “${this.search.value.trim()}”.`;
    else this.matches.textContent = `${shown} ${shown === 1 ? "tile matches" : "tiles match"}; Enter opens the first.`;
  }

  onSearchKey(event) {
    if (event.key === "Enter") {
      event.preventDefault();
      const first = this.groupsNode.querySelector(".tile");
      if (first) window.open(first.querySelector(".tile-link").href, "_blank", "noopener,noreferrer");
    } else if (event.key === "Escape") {
      this.search.value = "";
      this.applySearch();
      this.search.blur();
    }
  }

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const groupId = Number(button.closest(".group")?.dataset.groupId);
    const serviceId = Number(button.closest(".tile")?.dataset.serviceId);
    const group = this.data?.groups.find((candidate) => candidate.id === groupId);
    switch (button.dataset.action) {
      case "toggle-group":
        return this.toggleGroup(groupId);
      case "add-tile":
        return this.openTileForm(Number.isNaN(groupId) ? null : groupId);
      case "rename-group":
        return this.openGroupForm(group);
      case "delete-group":
        return this.deleteGroup(group);
      case "edit-tile":
        return this.openTileForm(null, this.services.get(serviceId));
      case "delete-tile":
        return this.deleteTile(this.services.get(serviceId));
      default:
        return undefined;
    }
  }

  toggleGroup(groupId) {
    if (this.search.value.trim()) return;
    if (this.collapsed.has(groupId)) this.collapsed.delete(groupId);
    else this.collapsed.add(groupId);
    localStorage.setItem(COLLAPSED_KEY, JSON.stringify([...this.collapsed]));
    this.render();
  }

  async openGroupForm(group = null) {
    const saved = await this.whileBusy(() => groupForm(group));
    if (!saved) return;
    toast(group ? `Group renamed to “${saved.name}”.` : `Group “${saved.name}” added.`);
    await this.refresh();
  }

  async openTileForm(groupId = null, service = null) {
    const groups = (this.data?.groups ?? []).map(({ id, name }) => ({ id, name }));
    const saved = await this.whileBusy(() => tileForm({ service, groups, groupId }));
    if (!saved) return;
    toast(service ? `“${saved.name}” saved.` : `“${saved.name}” added.`);
    await this.refresh();
    focus(this.groupsNode.querySelector(`[data-key="open-${saved.id}"]`));
  }

  async deleteGroup(group) {
    const tiles = group.services.length;
    const confirmed = await this.whileBusy(() => confirmDelete({
      title: `Delete group “${group.name}”?`,
      message: tiles
        ? `Its ${tiles} ${tiles === 1 ? "tile" : "tiles"} and their history will be deleted too. This cannot be undone.`
        : "The group is empty. This cannot be undone.",
    }));
    if (!confirmed) return;
    await this.act(() => api.del(`/groups/${group.id}?cascade=true`), `Group “${group.name}” deleted.`);
  }

  async deleteTile(service) {
    const confirmed = await this.whileBusy(() => confirmDelete({
      title: `Delete “${service.name}”?`,
      message: "The tile, its check and its history will be deleted. This cannot be undone.",
    }));
    if (!confirmed) return;
    await this.act(() => api.del(`/services/${service.id}`), `“${service.name}” deleted.`);
  }

  async saveTileMove(item, from, to) {
    const serviceId = Number(item.dataset.serviceId);
    const groupId = Number(to.dataset.groupId);
    const ids = this.orderAfterMove(item, to).map((tile) => Number(tile.dataset.serviceId));
    const name = this.services.get(serviceId)?.name ?? "Tile";
    const position = ids.indexOf(serviceId) + 1;
    await this.act(async () => {
      if (from !== to) await api.patch(`/services/${serviceId}`, { group_id: groupId });
      await api.put(`/groups/${groupId}/services/order`, { ids });
    }, null);
    announce(`${name} moved to position ${position} of ${ids.length}.`);
  }

  /**
   * The new order of every tile of list `to` once `item` was moved into it, including those a search left
   * out of the page: the moved tile goes right after the tile it now follows in the page.
   */
  orderAfterMove(item, to) {
    const before = this.listTiles.get(to) ?? [];
    // Each left-out tile stays after the tile in the page it followed before (null: at the start).
    const after = new Map();
    let anchor = null;
    for (const tile of before) {
      if (tile === item) continue;
      if (tile.parentNode === to) anchor = tile;
      else if (after.has(anchor)) after.get(anchor).push(tile);
      else after.set(anchor, [tile]);
    }
    const order = [...(after.get(null) ?? [])];
    for (const tile of to.querySelectorAll(".tile")) order.push(tile, ...(after.get(tile) ?? []));
    return order;
  }

  async saveGroupOrder(item) {
    const ids = [...this.groupsNode.querySelectorAll(".group")].map((section) => Number(section.dataset.groupId));
    const groupId = Number(item.dataset.groupId);
    const name = this.data.groups.find((group) => group.id === groupId)?.name ?? "Group";
    await this.act(() => api.put("/groups/order", { ids }), null);
    announce(`Group ${name} moved to position ${ids.indexOf(groupId) + 1} of ${ids.length}.`);
  }

  /** Runs a change, says how it went, and reloads the page from the server (which undoes a failed move). */
  async act(change, message) {
    this.busy += 1;
    try {
      await change();
      if (message) toast(message);
    } catch (error) {
      const hint = error.status === 422 ? " The dashboard may have changed meanwhile; it has been reloaded." : "";
      toast(`${error.message}${hint}`, "error");
    } finally {
      this.busy -= 1;
    }
    await this.refresh();
  }

  async whileBusy(task) {
    this.busy += 1;
    try {
      return await task();
    } finally {
      this.busy -= 1;
      this.renderIfStale();
    }
  }

  /** A check result or state change from the stream: update that tile and the summary in place. */
  onEvent(event) {
    if (event.kind === "config_changed") {
      // Someone changed groups, tiles or windows (in another tab, or on another replica): read them again,
      // once for a burst of changes.
      clearTimeout(this.configTimer);
      this.configTimer = setTimeout(() => this.refresh(), 300);
      return;
    }
    if (this.loading && this.pendingEvents.length < 50000) this.pendingEvents.push(event);
    this.applyEvent(event, false);
  }

  /**
   * Lays an event over the tile's data and, unless `replay`ed over a fresh answer (which render() then
   * shows), over its element. A replayed event older than what the answer says is dropped.
   */
  applyEvent(event, replay) {
    const service = this.services.get(event.service_id);
    if (!service) return;
    if (event.kind === "result" && event.result) {
      if (replay && notNewer(event.result.checked_at, service.status.last_checked_at)) return;
      service.status.last_checked_at = event.result.checked_at;
      service.status.last_latency_ms = event.result.latency_ms;
      service.status.last_error = event.result.error;
    } else if (event.kind === "state_changed" && event.state) {
      if (replay && notNewer(event.at, service.status.since)) return;
      service.status.state = event.state;
      service.status.since = event.at;
    } else {
      return;
    }
    if (replay) return;
    // A map, not a query: 10,000 tiles send about 170 events a second.
    // A tile a search left out of the page is kept current too: it shows as it is when it comes back.
    const tile = this.tileNodes?.get(service.id);
    if (!tile) return;
    updateStatus(tile, service);
    if (event.kind === "state_changed") {
      this.renderSummary();
      const group = this.data.groups.find((candidate) => candidate.id === service.group_id);
      const count = this.groupsNode.querySelector(`.group[data-group-id="${service.group_id}"] .group-count`);
      if (group && count) count.textContent = groupCountText(group.services.length, countStates(group.services));
      if (event.state === "down") announce(`${service.name} is down.`);
      else if (event.state === "up" && event.previous === "down") announce(`${service.name} is back up.`);
    }
  }
}

/** Whether the time `at` is not after `known` (both RFC 3339; a missing `known` is older than anything). */
function notNewer(at, known) {
  return Boolean(known) && Date.parse(at) <= Date.parse(known);
}

/** The last check's latency; for a watched tile without one yet, says so. */
function latencyText(service) {
  if (!service.check) return "";
  if (service.status.last_latency_ms !== null) return formatLatency(service.status.last_latency_ms);
  return service.status.state === "paused" ? "" : "No checks yet";
}

/** Writes into a tile what changed of its state and last latency: most events leave the state as it was. */
function updateStatus(tile, service) {
  const state = displayState(service);
  const className = `tile tile-${state}`;
  if (tile.className !== className) {
    tile.className = className;
    tile.querySelector(".badge").replaceWith(stateBadge(state));
  }
  const latency = latencyText(service);
  const latencyNode = tile.querySelector(".tile-latency");
  if (latencyNode.textContent !== latency) latencyNode.textContent = latency;
}

function uptimeText(service) {
  return service.check && service.uptime_24h !== null ? formatPercent(service.uptime_24h) : "";
}

/**
 * What render() builds from and an update in place cannot change: the groups in order, their tiles in order,
 * and what each tile shows besides its status, uptime, latency, certificate and sparkline.
 */
function layoutOf(data) {
  return JSON.stringify(data.groups.map((group) => [group.id, group.name, group.services.map((service) => [
    service.id, service.name, service.url, service.description, service.icon, service.tags,
    service.check ? service.check.cert_warn_days ?? 14 : null,
  ])]));
}

function countStates(services) {
  const counts = {};
  for (const service of services) {
    const state = displayState(service);
    counts[state] = (counts[state] || 0) + 1;
  }
  return counts;
}

function groupCountText(total, counts) {
  const problems = (counts.down || 0) + (counts.pending || 0);
  const base = `${total} ${total === 1 ? "tile" : "tiles"}`;
  return problems ? `${base}, ${counts.down || 0} down` + (counts.pending ? `, ${counts.pending} pending` : "") : base;
}

function tileTitle(service, state) {
  const lines = [`${service.name} — ${STATE_LABELS[state]}`];
  if (service.status.since && service.check) lines.push(`since ${formatDateTime(service.status.since)}`);
  if (service.status.last_checked_at) lines.push(`last checked ${formatRelative(service.status.last_checked_at)}`);
  if (service.status.last_error && state !== "up") lines.push(service.status.last_error);
  return lines.join("\n");
}

/** Days the tile's TLS certificate has left, when a check saw one; marked when below the warning. */
export function certificateBadge(service) {
  const cert = service.status.certificate;
  if (!cert || !service.check) return null;
  const warn = service.check.cert_warn_days ?? 14;
  const days = cert.days_left;
  const text = days < 0 ? "cert expired" : `cert ${days} d`;
  return el("span", {
    class: `tile-cert${warn > 0 && days < warn ? " cert-soon" : ""}`,
    title: `TLS certificate for ${cert.subject}, issued by ${cert.issuer}, valid until ${formatDateTime(cert.expires_at)}`,
  }, text);
}

/**
 * The tile's picture: an emoji, an image URL, or an icon name from dashboard-icons. Images sit on the tile's
 * initial, which stays when they cannot load (no network, unknown name).
 */
function iconElement(service) {
  const icon = service.icon?.trim();
  const isUrl = /^https?:\/\//i.test(icon ?? "");
  const isName = /^[a-z0-9][a-z0-9._-]*$/i.test(icon ?? "");
  if (icon && !isUrl && !isName) return el("span", { class: "icon icon-emoji", "aria-hidden": "true" }, icon);
  const letter = el("span", { class: "icon icon-letter", "aria-hidden": "true" }, [...service.name][0]?.toUpperCase() ?? "?");
  letter.style.setProperty("--hue", String(hue(service.name)));
  if (!icon) return letter;
  const image = el("img", {
    alt: "", loading: "lazy", decoding: "async", referrerpolicy: "no-referrer", width: 32, height: 32,
    src: isUrl ? icon : `${ICON_SET}${icon.toLowerCase().replace(/\.png$/, "")}.png`,
  });
  image.addEventListener("load", () => letter.classList.add("icon-loaded"), { once: true });
  image.addEventListener("error", () => image.remove(), { once: true });
  letter.append(image);
  return letter;
}

function hue(text) {
  let hash = 0;
  for (const char of text) hash = (hash * 31 + char.codePointAt(0)) % 360;
  return hash;
}

/** 24 hourly latencies as a small line; hours without a successful check leave a gap. */
function sparkline(values) {
  const width = 96;
  const height = 24;
  const present = values.filter((value) => value !== null);
  const label = present.length
    ? `Latency over 24 hours: ${formatLatency(Math.min(...present))} to ${formatLatency(Math.max(...present))}`
    : "No latency in the last 24 hours";
  const node = svg("svg", {
    class: "sparkline", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", role: "img", "aria-label": label,
  });
  node.append(svg("title", {}, label));
  if (!present.length) return node;
  const max = Math.max(...present) || 1;
  const step = width / Math.max(values.length - 1, 1);
  let points = [];
  const flush = () => {
    if (points.length === 1) {
      const [x, y] = points[0].split(",");
      node.append(svg("circle", { cx: x, cy: y, r: 1.5 }));
    } else if (points.length > 1) {
      node.append(svg("polyline", { points: points.join(" ") }));
    }
    points = [];
  };
  values.forEach((value, index) => {
    if (value === null) return flush();
    const y = height - 2 - (value / max) * (height - 4);
    points.push(`${(index * step).toFixed(1)},${y.toFixed(1)}`);
    return undefined;
  });
  flush();
  return node;
}
