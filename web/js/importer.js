// Import (/import): another tool's configuration — Homepage's services.yaml, Gatus' config.yaml, Uptime Kuma's
// kuma.db or its JSON backup — read by the server, shown as a plan with everything it could not map and why,
// then applied. Importing again adds nothing twice; nothing is ever deleted.

import * as api from "./api.js";
import { el, toast } from "./dom.js";
import { field, select } from "./forms.js";

const SOURCES = [
  ["homepage", "Homepage (services.yaml)"],
  ["gatus", "Gatus (config.yaml)"],
  ["uptime-kuma", "Uptime Kuma (kuma.db or JSON backup)"],
];

export function mountImport(main) {
  const view = new ImportView(main);
  view.start();
  return view;
}

class ImportView {
  constructor(main) {
    this.main = main;
  }

  start() {
    document.title = "Import · Homewatch";
    this.source = field("from", "From", select(SOURCES, "homepage"));
    this.file = field("file", "File", el("input", { type: "file" }));
    this.text = field("text", "…or paste it here (YAML or JSON)",
      el("textarea", { rows: 8, spellcheck: "false", placeholder: "- Media:\n    - Jellyfin:\n        href: http://jellyfin.lan:8096" }));
    this.error = el("p", { class: "form-error", role: "alert", hidden: true });
    this.result = el("div", { class: "import-result", "aria-live": "polite" });
    const preview = el("button", { type: "button", class: "button button-primary", id: "import-preview",
      onclick: () => this.send(true) }, "Show the plan");
    this.main.replaceChildren(
      el("nav", { class: "breadcrumb", "aria-label": "Breadcrumb" }, el("a", { href: "/", "data-link": "" }, "← All services")),
      el("h1", {}, "Import"),
      el("section", { class: "panel" },
        el("p", { class: "muted" }, "Bring your tiles over from another tool. You see the plan first — every group and " +
          "tile it would create or change, and everything it could not take over, with why. Importing the same " +
          "file again adds nothing twice, and nothing is ever deleted."),
        el("form", { class: "import-form", onsubmit: (event) => { event.preventDefault(); this.send(true); } },
          el("div", { class: "form-grid" }, this.source, this.file), this.text, this.error,
          el("div", { class: "form-actions" }, preview))),
      this.result);
  }

  /** The chosen file's bytes, or the pasted text. */
  async body() {
    const file = this.file.input.files?.[0];
    if (file) return new Uint8Array(await file.arrayBuffer());
    const text = this.text.input.value;
    return text.trim() ? new TextEncoder().encode(text) : null;
  }

  async send(dryRun) {
    this.error.hidden = true;
    const body = await this.body();
    if (!body) {
      this.error.textContent = "Choose a file, or paste its text.";
      this.error.hidden = false;
      return;
    }
    const from = this.source.input.value;
    let answer;
    try {
      answer = await api.upload(`/config/import?from=${encodeURIComponent(from)}&dry_run=${dryRun}`, body);
    } catch (error) {
      this.error.textContent = [error.message, ...error.fieldErrors.map((e) => e.message)].join(" ");
      this.error.hidden = false;
      return;
    }
    this.show(answer, dryRun);
    if (!dryRun) toast(`Imported: ${answer.plan.created} created, ${answer.plan.changed} changed.`);
  }

  show(answer, dryRun) {
    const { plan } = answer;
    const sign = { create: "+", change: "~", delete: "−" };
    const changes = plan.changes.length
      ? el("ul", { class: "plan" }, ...plan.changes.map((change) => el("li", { class: `plan-${change.action}`, dataset: { key: change.key } },
        el("strong", {}, `${sign[change.action]} ${change.kind} `), change.key,
        change.action === "change" && change.fields.length
          ? el("ul", {}, ...change.fields.map((f) => el("li", { class: "muted" }, `${f.field}: ${f.before ?? "(none)"} → ${f.after ?? "(none)"}`)))
          : null)))
      : el("p", {}, "Everything in the file is here already: nothing to change.");
    const skipped = answer.skipped.length
      ? el("ul", { class: "skipped" }, ...answer.skipped.map((s) => el("li", {}, el("strong", {}, s.item), `: ${s.what} — ${s.why}`)))
      : el("p", { class: "muted" }, "Everything in the file was taken over.");
    const apply = dryRun && plan.changes.length
      ? el("button", { type: "button", class: "button button-primary", id: "import-apply", onclick: () => this.send(false) },
        `Import ${answer.tiles} tile${answer.tiles === 1 ? "" : "s"}`)
      : null;
    this.result.replaceChildren(
      el("section", { class: "panel", id: "import-plan" },
        el("h2", {}, dryRun ? "The plan" : "Imported"),
        el("p", {}, `Read ${answer.groups} group${answer.groups === 1 ? "" : "s"} and ${answer.tiles} tile${answer.tiles === 1 ? "" : "s"}: ` +
          `${plan.created} to create, ${plan.changed} to change.`),
        changes, apply),
      el("section", { class: "panel", id: "import-skipped" }, el("h2", {}, "Not imported"), skipped));
  }

  destroy() {}
}
