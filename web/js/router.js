// Client-side routes: `/` is the start page, `/services/{id}` a service's page. The server answers every
// other path with index.html, so links can be opened, bookmarked and reloaded.

const routes = [];
let current = null;
let guard = () => null;

/** `check(path)` returns where to go instead (such as the sign-in page), or null to show `path`. */
export function setGuard(check) {
  guard = check;
}

/**
 * @param {RegExp} pattern matched against location.pathname
 * @param {(main: HTMLElement, ...params: string[]) => {destroy?: () => void}} mount
 */
export function route(pattern, mount) {
  routes.push({ pattern, mount });
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  render();
}

export function currentView() {
  return current;
}

export function render() {
  current?.destroy?.();
  current = null;
  const main = document.getElementById("main");
  main.replaceChildren();
  const redirect = guard(location.pathname);
  if (redirect && redirect !== location.pathname + location.search) {
    history.replaceState({}, "", redirect);
  }
  const path = location.pathname;
  for (const { pattern, mount } of routes) {
    const match = pattern.exec(path);
    if (match) {
      current = mount(main, ...match.slice(1));
      routed();
      return;
    }
  }
  current = notFound(main, path);
  routed();
}

function routed() {
  window.dispatchEvent(new Event("homewatch:route"));
}

function notFound(main, path) {
  const heading = document.createElement("h1");
  heading.textContent = "Page not found";
  const text = document.createElement("p");
  text.textContent = `Nothing lives at ${path}. `;
  const back = document.createElement("a");
  back.href = "/";
  back.dataset.link = "";
  back.textContent = "Back to the start page";
  text.append(back);
  main.replaceChildren(heading, text);
  document.title = "Not found · Homewatch";
  return {};
}

/** Same-page links (`data-link`) change the route without reloading; modified clicks open a new tab. */
export function interceptLinks() {
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-link]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (link.getAttribute("href") !== location.pathname) navigate(link.getAttribute("href"));
  });
  window.addEventListener("popstate", render);
}
