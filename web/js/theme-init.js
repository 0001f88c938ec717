// Runs before the page is painted (a plain script in <head>) so a chosen theme never flashes the other one.
// No choice stored means: follow the system (prefers-color-scheme).
"use strict";
try {
  var theme = localStorage.getItem("homewatch.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
} catch (err) {
  // Storage may be off (private mode): the system theme applies.
}
