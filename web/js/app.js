// Boots the page: routes, live updates, the theme switch and the `/` shortcut to search.

import { mountDashboard } from "./dashboard.js";
import { startLive } from "./live.js";
import { currentView, interceptLinks, navigate, render, route } from "./router.js";
import { mountService } from "./service.js";

const THEME_KEY = "homewatch.theme";
const THEMES = ["system", "light", "dark"];

route(/^\/$/, mountDashboard);
route(/^\/services\/(\d+)\/?$/, mountService);

function applyTheme(theme) {
  if (theme === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById("theme-toggle");
  button.dataset.theme = theme;
  button.setAttribute("aria-label", `Theme: ${theme}. Change theme`);
  button.title = `Theme: ${theme} (click to change)`;
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
  matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => window.dispatchEvent(new Event("themechange")));
}

/** `/` anywhere but in a text field goes to the search field (on the start page). */
function setupShortcuts() {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest?.("input, textarea, select, [contenteditable=true]") || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    if (location.pathname !== "/") navigate("/");
    currentView()?.focusSearch?.();
  });
}

setupTheme();
setupShortcuts();
interceptLinks();
render();
startLive();
