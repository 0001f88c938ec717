// Runs before the page is painted (a plain script in <head>): <html data-theme> is the viewer's choice
// (data-theme-choice, kept in localStorage) or else the system's scheme, so the page never flashes the other.
"use strict";
(function () {
  var choice = null;
  try {
    choice = localStorage.getItem("homewatch.theme");
  } catch (err) {
    // Storage may be off (private mode): the system's scheme applies.
  }
  var root = document.documentElement;
  if (choice === "light" || choice === "dark") root.dataset.themeChoice = choice;
  else choice = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  root.dataset.theme = choice;
})();
