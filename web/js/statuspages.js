// Status pages and incident posts (/status-pages): the public pages anyone may read at /status/{slug} (no
// login), what each shows, and the posts people write when something is wrong. The server judges every
// field; its 422 answers are shown next to the field they name.

import * as api from "./api.js";
import { el, formatDateTime, toast } from "./dom.js";
import { checkbox, confirmDelete, field, input, openDialog, select } from "./forms.js";
import { canEdit } from "./session.js";

const POST_STATUSES = [["investigating", "Investigating"], ["identified", "Identified"], ["monitoring", "Monitoring"], ["resolved", "Resolved"]];

export function mountStatusPages(main) {
  const view = new StatusPagesView(main);
  view.start();
  return view;
}

class StatusPagesView {
  constructor(main) {
    this.main = main;
  }

  start() {
    document.title = "Status pages · Homewatch";
    this.pages = el("tbody");
    this.posts = el("div", { class: "posts-list" });
    const add = canEdit()
      ? el("button", { type: "button", class: "button button-primary", id: "new-status-page", onclick: () => this.edit(null) }, "New status page")
      : null;
    const write = canEdit()
      ? el("button", { type: "button", class: "button button-primary", id: "new-post", onclick: () => this.writePost() }, "Write incident post")
      : null;
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      el("h1", {}, "Status pages"),
      el("section", { class: "panel", "aria-labelledby": "pages-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "pages-heading" }, "Pages"), add),
        el("p", { class: "muted" }, "A status page shows the tiles you pick, their state and 90 days of uptime, to anyone " +
          "with its address, without signing in. It never shows check targets or error texts, and a tile's link only " +
          "if you say so. Drafts are seen only by signed-in users."),
        el("div", { class: "table-wrap" }, el("table", { class: "results status-pages" },
          el("thead", {}, el("tr", {}, ...["Title", "Address", "State", "Shows", ""].map((h) => el("th", {}, h)))),
          this.pages))),
      el("section", { class: "panel", "aria-labelledby": "posts-heading" },
        el("div", { class: "panel-head" }, el("h2", { id: "posts-heading" }, "Incident posts"), write),
        el("p", { class: "muted" }, "Posts show on the status pages that show their tiles (a post without tiles shows on " +
          "every page), and in each page's Atom feed. Text may use Markdown: emphasis, lists, code and links."),
        this.posts));
    this.load();
  }

  async load() {
    let pages;
    let posts;
    try {
      [pages, posts, this.groups, this.tiles] = await Promise.all([
        api.get("/status-pages"), api.get("/posts"), api.get("/groups"), api.get("/dashboard").then((d) => d.groups),
      ]);
    } catch (error) {
      this.pages.replaceChildren(el("tr", {}, el("td", { colspan: 5 }, error.message)));
      return;
    }
    const groupName = (id) => this.groups.find((g) => g.id === id)?.name ?? `group ${id}`;
    this.pages.replaceChildren(...(pages.length ? pages.map((page) => el("tr", { dataset: { page: page.id } },
      el("td", {}, page.title),
      el("td", {}, el("a", { href: page.path, target: "_blank", rel: "noopener" }, page.path),
        page.domain ? el("div", { class: "muted" }, `and http(s)://${page.domain}/`) : null),
      el("td", {}, page.published ? el("span", { class: "badge badge-up" }, "Published") : el("span", { class: "badge" }, "Draft")),
      el("td", {}, page.sections.map((s) => s.group_id ? (s.name ?? groupName(s.group_id)) : `${s.services.length} tile(s)`).join(", ") || "Nothing yet"),
      el("td", { class: "actions" }, canEdit() ? [
        el("button", { type: "button", class: "button button-small", onclick: () => this.edit(page) }, "Edit"),
        " ",
        el("button", { type: "button", class: "button button-small button-danger", onclick: () => this.removePage(page) }, "Delete"),
      ] : null)))
      : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No status pages yet."))]));
    const tileName = (id) => this.tiles.flatMap((g) => g.services).find((s) => s.id === id)?.name ?? `tile ${id}`;
    this.posts.replaceChildren(...(posts.length ? posts.map((post) => el("article", { class: `post-card post-${post.status}`, dataset: { post: post.id } },
      el("div", { class: "panel-head" },
        el("h3", {}, post.title, " ", el("span", { class: `badge post-status-${post.status}` }, POST_STATUSES.find(([v]) => v === post.status)?.[1] ?? post.status)),
        canEdit() ? el("div", { class: "actions" },
          post.status !== "resolved" ? el("button", { type: "button", class: "button button-small", onclick: () => this.addUpdate(post) }, "Add update") : null,
          " ",
          el("button", { type: "button", class: "button button-small button-danger", onclick: () => this.removePost(post) }, "Delete")) : null),
      el("p", { class: "muted" }, post.services.length ? `Affects ${post.services.map(tileName).join(", ")}` : "Shown on every page"),
      el("ol", { class: "post-updates" }, ...post.updates.map((update) => el("li", {},
        el("strong", {}, POST_STATUSES.find(([v]) => v === update.status)?.[1] ?? update.status), " · ",
        el("time", { datetime: update.created_at }, formatDateTime(update.created_at)),
        el("p", { class: "post-body" }, update.body))))))
      : [el("p", { class: "muted" }, "No incident posts.")]));
  }

  async edit(page) {
    const saved = await statusPageForm({ page, groups: this.groups, tiles: this.tiles });
    if (saved) {
      toast(`Saved “${saved.title}”.`);
      this.load();
    }
  }

  async removePage(page) {
    if (!await confirmDelete({ title: `Delete “${page.title}”?`, message: `${page.path} stops answering.` })) return;
    await api.del(`/status-pages/${page.id}`).catch((error) => toast(error.message, "error"));
    this.load();
  }

  async writePost() {
    const saved = await postForm({ tiles: this.tiles });
    if (saved) {
      toast(`Posted “${saved.title}”.`);
      this.load();
    }
  }

  async addUpdate(post) {
    const status = field("status", "Status", select(POST_STATUSES, post.status === "investigating" ? "identified" : post.status));
    const body = field("body", "Update", el("textarea", { rows: 4, required: true, maxlength: 10000, autofocus: true }));
    const form = el("form", {}, status, body);
    const saved = await openDialog({
      title: `Update “${post.title}”`, form, submitLabel: "Post update",
      submit: () => api.post(`/posts/${post.id}/updates`, { status: status.input.value, body: body.input.value }),
    });
    if (saved) this.load();
  }

  async removePost(post) {
    if (!await confirmDelete({ title: `Delete “${post.title}”?`, message: "The post and its updates leave every page and feed." })) return;
    await api.del(`/posts/${post.id}`).catch((error) => toast(error.message, "error"));
    this.load();
  }
}

/** Check boxes for every group (all of its tiles) and every tile, grouped. */
function tilePicker(tiles, chosenGroups, chosenTiles, { groupsToo }) {
  const boxes = [];
  const sets = tiles.map((group) => {
    const groupBox = groupsToo ? checkbox(chosenGroups.includes(group.id)) : null;
    if (groupBox) {
      groupBox.value = String(group.id);
      groupBox.dataset.kind = "group";
      boxes.push(groupBox);
    }
    const tileLabels = group.services.map((service) => {
      const box = checkbox(chosenTiles.includes(service.id));
      box.value = String(service.id);
      box.dataset.kind = "tile";
      boxes.push(box);
      return el("label", { class: "choice" }, box, " ", service.name);
    });
    const sync = () => tileLabels.forEach((label) => { label.querySelector("input").disabled = groupBox?.checked ?? false; });
    groupBox?.addEventListener("change", sync);
    sync();
    return el("fieldset", { class: "choices" },
      el("legend", {}, groupBox ? el("label", { class: "choice" }, groupBox, " ", `${group.name} (the whole group)`) : group.name),
      ...tileLabels);
  });
  const chosen = (kind) => boxes.filter((b) => b.dataset.kind === kind && b.checked && !b.disabled).map((b) => Number(b.value));
  return { sets, chosen };
}

export function statusPageForm({ page, groups, tiles }) {
  const title = field("title", "Title", input({ required: true, maxlength: 100, autofocus: true, placeholder: "Home services" }));
  const slug = field("slug", "Address", input({ required: true, maxlength: 64, placeholder: "home" }), { hint: "The page is served at /status/<address>: lower-case letters, digits and dashes." });
  const description = field("description", "Description", el("textarea", { rows: 2, maxlength: 2000 }), { hint: "Markdown: emphasis and links." });
  const icon = field("icon", "Icon", input({ placeholder: "🏠 or https://…/logo.png" }));
  const footer = field("footer", "Footer", input({ maxlength: 500, placeholder: "Questions? Ask in the family chat." }));
  const domain = field("domain", "Own domain", input({ placeholder: "status.example.com" }), { hint: "Optional: when requests for this host name reach Homewatch, the page is served at its /." });
  const published = field("published", "Published (anyone with the address can see it)", checkbox(page?.published ?? false));
  const links = field("show_links", "Show each tile's link", checkbox(page?.show_links ?? false));
  const chosenGroups = (page?.sections ?? []).map((s) => s.group_id).filter((id) => id != null);
  const chosenTiles = (page?.sections ?? []).flatMap((s) => s.services ?? []);
  const picker = tilePicker(tiles, chosenGroups, chosenTiles, { groupsToo: true });
  if (page) {
    title.input.value = page.title;
    slug.input.value = page.slug;
    description.input.value = page.description;
    icon.input.value = page.icon ?? "";
    footer.input.value = page.footer;
    domain.input.value = page.domain ?? "";
  } else {
    title.input.addEventListener("input", () => {
      slug.input.value = title.input.value.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 64);
    });
  }
  const shows = el("fieldset", { class: "monitoring", dataset: { field: "sections" } }, el("legend", {}, "What it shows"),
    el("p", { class: "muted" }, "Whole groups (with tiles added to them later), or single tiles."), ...picker.sets);
  const form = el("form", { class: "status-page-form" }, title, slug, description, icon, footer, domain, published, links, shows);
  const submit = () => {
    const groupIds = picker.chosen("group");
    const tileIds = picker.chosen("tile");
    const sections = [
      ...groups.filter((g) => groupIds.includes(g.id)).map((g) => ({ group_id: g.id })),
      ...(tileIds.length ? [{ name: "Services", services: tileIds }] : []),
    ];
    const body = {
      title: title.input.value, slug: slug.input.value, description: description.input.value, footer: footer.input.value,
      published: published.input.checked, show_links: links.input.checked, sections,
    };
    const iconText = icon.input.value.trim();
    const domainText = domain.input.value.trim();
    if (page) {
      body.icon = iconText || null;
      body.domain = domainText || null;
      return api.patch(`/status-pages/${page.id}`, body);
    }
    if (iconText) body.icon = iconText;
    if (domainText) body.domain = domainText;
    return api.post("/status-pages", body);
  };
  return openDialog({ title: page ? `Edit “${page.title}”` : "New status page", form, submitLabel: page ? "Save" : "Create", submit });
}

export function postForm({ tiles }) {
  const title = field("title", "Title", input({ required: true, maxlength: 200, autofocus: true, placeholder: "Media server unreachable" }));
  const status = field("status", "Status", select(POST_STATUSES, "investigating"));
  const body = field("body", "What is going on", el("textarea", { rows: 4, required: true, maxlength: 10000 }), { hint: "Markdown: emphasis, lists and links." });
  const picker = tilePicker(tiles, [], [], { groupsToo: false });
  const affected = el("fieldset", { class: "monitoring", dataset: { field: "services" } }, el("legend", {}, "Affected tiles"),
    el("p", { class: "muted" }, "None: the post shows on every status page."), ...picker.sets);
  const form = el("form", { class: "post-form" }, title, status, body, affected);
  const submit = () => api.post("/posts", {
    title: title.input.value, status: status.input.value, body: body.input.value, services: picker.chosen("tile"),
  });
  return openDialog({ title: "Write incident post", form, submitLabel: "Post", submit });
}
