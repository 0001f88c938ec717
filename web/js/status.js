// The public status page, kept live: it is rendered on the server and complete without this script. Every
// 10 seconds (and when the tab is shown again) the page is asked for again; the browser revalidates it
// with its ETag, so an unchanged page costs a 304 and no body. A changed page replaces the content.

const EVERY_MS = 10_000;
let timer = null;
let busy = false;

function stamp(text) {
  let line = document.querySelector(".live");
  if (!line) {
    line = document.createElement("p");
    line.className = "live";
    line.setAttribute("role", "status");
    document.querySelector("main")?.append(line);
  }
  line.textContent = text;
}

async function refresh() {
  if (busy || document.hidden) return;
  busy = true;
  try {
    const response = await fetch(location.href, { cache: "no-cache", credentials: "same-origin" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const html = await response.text();
    const next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
    const current = document.querySelector("main");
    if (next && current && next.innerHTML !== current.dataset.rendered) {
      current.replaceChildren(...next.childNodes);
      current.dataset.rendered = next.innerHTML;
      document.title = new DOMParser().parseFromString(html, "text/html").title || document.title;
    }
    stamp(`Live: checked ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    stamp(`Could not refresh (${error.message}); trying again`);
  } finally {
    busy = false;
  }
}

function start() {
  const main = document.querySelector("main");
  if (main) main.dataset.rendered = main.innerHTML;
  stamp("Live: updates every 10 seconds");
  timer = setInterval(refresh, EVERY_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
  });
}

if (!timer) start();
