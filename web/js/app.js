// Boots the page: who is signed in, routes (with the sign-in and setup pages in front when needed), live
// updates, the account menu, the theme switch and the `/` shortcut to search.

import { mountLogin, mountSettings, mountSetup } from "./account.js";
import { mountAlerts } from "./alerts.js";
import { mountMaintenance } from "./maintenance.js";
import { mountDashboard } from "./dashboard.js";
import { el } from "./dom.js";
import { startLive } from "./live.js";
import { currentView, interceptLinks, navigate, render, route, setGuard } from "./router.js";
import { mountService } from "./service.js";
import { mountStatusPages } from "./statuspages.js";
import { mountImport } from "./importer.js";
import { authState, canEdit, canRead, currentUser, forgetUser, loadSession, onSessionChange, signOut } from "./session.js";

const THEME_KEY = "homewatch.theme";
const THEMES = ["system", "light", "dark"];

route(/^\/$/, mountDashboard);
route(/^\/services\/(\d+)\/?$/, mountService);
route(/^\/login\/?$/, mountLogin);
route(/^\/setup\/?$/, mountSetup);
route(/^\/settings\/?$/, mountSettings);
route(/^\/alerts\/?$/, mountAlerts);
route(/^\/maintenance\/?$/, mountMaintenance);
route(/^\/status-pages\/?$/, mountStatusPages);
route(/^\/import\/?$/, mountImport);

/** Setup first while nobody can sign in; then sign-in for pages that need a user. */
setGuard((path) => {
  if (authState().setup_required) return path === "/setup" ? null : "/setup";
  if (path === "/setup") return "/";
  if (path === "/login") return null;
  const signedIn = Boolean(currentUser());
  if (path === "/settings" ? !signedIn : !canRead()) {
    return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
  }
  return null;
});

const systemDark = matchMedia("(prefers-color-scheme: dark)");

/** `choice` is system, light or dark; <html data-theme> is what shows (see theme-init.js). */
function applyTheme(choice) {
  const root = document.documentElement;
  if (choice === "system") delete root.dataset.themeChoice;
  else root.dataset.themeChoice = choice;
  root.dataset.theme = choice === "system" ? (systemDark.matches ? "dark" : "light") : choice;
  const button = document.getElementById("theme-toggle");
  button.dataset.theme = choice;
  button.setAttribute("aria-label", `Theme: ${choice}. Change theme`);
  button.title = `Theme: ${choice} (click to change)`;
  window.dispatchEvent(new Event("themechange"));
}

function setupTheme() {
  const stored = localStorage.getItem(THEME_KEY);
  applyTheme(THEMES.includes(stored) ? stored : "system");
  document.getElementById("theme-toggle").addEventListener("click", (event) => {
    const next = THEMES[(THEMES.indexOf(event.currentTarget.dataset.theme) + 1) % THEMES.length];
    if (next === "system") localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
  });
  systemDark.addEventListener("change", () => {
    if (!document.documentElement.dataset.themeChoice) applyTheme("system");
  });
}

/** `/` anywhere but in a text field goes to the search field (on the start page). */
function setupShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest?.("input, textarea, select, [contenteditable=true]") || document.querySelector("dialog[open]")) return;
    if (!canRead()) return;
    event.preventDefault();
    if (location.pathname !== "/") navigate("/");
    currentView()?.focusSearch?.();
  });
}

/** Who is signed in, with Settings and Sign out; or Sign in, for anonymous visitors of a public dashboard. */
function renderAccountMenu() {
  const menu = document.getElementById("account");
  // Live or not means nothing to someone who may not read the dashboard.
  document.getElementById("connection").hidden = !canRead();
  const user = currentUser();
  if (user) {
    const out = el("button", { type: "button", class: "button button-small", id: "sign-out" }, "Sign out");
    out.addEventListener("click", async () => {
      await signOut().catch(() => {});
      navigate(authState().public_dashboard ? "/" : "/login");
    });
    menu.replaceChildren(
      el("a", { href: "/alerts", "data-link": "", class: "nav-link", id: "nav-alerts" }, "Alerts"),
      el("a", { href: "/maintenance", "data-link": "", class: "nav-link", id: "nav-maintenance" }, "Maintenance"),
      el("a", { href: "/status-pages", "data-link": "", class: "nav-link", id: "nav-status-pages" }, "Status pages"),
      ...(canEdit() ? [el("a", { href: "/import", "data-link": "", class: "nav-link", id: "nav-import" }, "Import")] : []),
      el("a", { href: "/settings", "data-link": "", class: "account-link", title: "Settings: password, API tokens" +
        (user.role === "admin" ? ", users" : "") },
        el("span", { class: "account-user" }, user.username),
        el("span", { class: `role role-${user.role}` }, user.role)),
      out);
  } else if (authState().public_dashboard && location.pathname !== "/login") {
    menu.replaceChildren(el("a", { href: "/login", "data-link": "", class: "button button-small", id: "sign-in" }, "Sign in"));
  } else {
    menu.replaceChildren();
  }
}

async function boot() {
  setupTheme();
  setupShortcuts();
  interceptLinks();
  try {
    await loadSession();
  } catch (error) {
    const retry = el("button", { type: "button", class: "button button-primary" }, "Try again");
    retry.addEventListener("click", () => location.reload());
    document.getElementById("main").replaceChildren(el("section", { class: "auth-card panel" },
      el("h1", {}, "Cannot reach Homewatch"), el("p", {}, error.message), retry));
    return;
  }
  onSessionChange(() => {
    renderAccountMenu();
    if (canRead()) startLive();
  });
  window.addEventListener("homewatch:signed-out", () => {
    if (!currentUser()) return;
    forgetUser();
    if (!authState().public_dashboard) {
      navigate(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
  });
  window.addEventListener("homewatch:route", renderAccountMenu);
  renderAccountMenu();
  render();
  // The dashboard's early read (theme-init.js) is for this first view only: a view shown later, after signing
  // in say, reads afresh.
  delete window.homewatchEarly;
  if (canRead()) startLive();
}

boot();
