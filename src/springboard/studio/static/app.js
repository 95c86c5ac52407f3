// Hash router: #/page/arg?query. Each page renders into <main>; its timers stop on navigation.
import { setApiKey, setUnauthorizedHandler, apiKey, get, onRequest } from "./api.js";
import { h, showError, clearError } from "./ui.js";
import * as models from "./pages/models.js";
import * as finetune from "./pages/finetune.js";
import * as jobs from "./pages/jobs.js";
import * as endpoints from "./pages/endpoints.js";
import * as transform from "./pages/transform.js";
import * as automl from "./pages/automl.js";
import * as crawl from "./pages/crawl.js";

const PAGES = {
  models: models.list, model: models.card, finetune: finetune.render, jobs: jobs.list, job: jobs.detail,
  endpoints: endpoints.render, endpoint: endpoints.detail, transform: transform.render, automl: automl.render, crawl: crawl.render,
};
const NAV = { model: "models", finetune: "models", job: "jobs", endpoint: "endpoints" };

let timers = [];
let generation = 0;

function context(gen) {
  return {
    every(ms, fn) {
      let running = false;
      const tick = async () => {
        if (gen !== generation || running) return;
        running = true;
        try { await fn(); } catch (err) { showError(err); } finally { running = false; }
      };
      timers.push(setInterval(tick, ms));
      tick();
    },
    live: () => gen === generation,
  };
}

async function route() {
  timers.forEach(clearInterval); timers = []; generation++;
  showError(null);
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const [page, ...rest] = path.split("/");
  const name = PAGES[page] ? page : "models";
  const main = document.getElementById("main");
  main.replaceChildren();
  for (const a of document.querySelectorAll("header nav a")) {
    if (a.getAttribute("href") === `#/${NAV[name] || name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await PAGES[name](main, rest.map(decodeURIComponent), new URLSearchParams(query), context(generation));
  } catch (err) { showError(err); }
}

function askKey(message) {
  const dialog = document.getElementById("login");
  document.getElementById("login-message").textContent = message || "";
  if (!dialog.open) dialog.showModal();
  document.getElementById("login-key").focus();
}

document.getElementById("login-form").addEventListener("submit", async () => {
  setApiKey(document.getElementById("login-key").value.trim());
  document.getElementById("logout").hidden = false;
  route();
});
document.getElementById("logout").addEventListener("click", () => { setApiKey(null); location.reload(); });
setUnauthorizedHandler((message) => askKey(message));

// Server down: every status on the page becomes "Unknown (last known: X)" and the banner says
// the server is unreachable; a probe retries until any request succeeds, then both go away
// (pages' own polls bring fresh statuses).
let probe = null;
function markStale(err) {
  for (const s of document.querySelectorAll(".status:not(.stale)")) {
    s.dataset.was = s.textContent; s.dataset.wasClass = s.className;
    s.className = "status stale"; s.textContent = "Unknown";
    s.title = `last known: ${s.dataset.was} (the server is unreachable)`;
    s.append(h("span", { class: "muted" }, ` (last known: ${s.dataset.was})`));
  }
  document.body.dataset.server = "unreachable";
  if (document.getElementById("error").dataset.unreachable !== "1") showError(err);
  if (!probe) probe = setInterval(() => get("/springboard/health").catch(() => null), 2000);
}
function recovered() {
  if (probe) { clearInterval(probe); probe = null; }
  document.body.dataset.server = "";
  for (const s of document.querySelectorAll(".status.stale")) {
    s.className = s.dataset.wasClass; s.textContent = s.dataset.was; s.removeAttribute("title");
  }
  if (document.getElementById("error").dataset.unreachable === "1") showError(null);
}
onRequest("unreachable", markStale);
onRequest("success", (key) => { if (probe || document.body.dataset.server) recovered(); clearError(key); });
document.getElementById("logout").hidden = !apiKey();
window.addEventListener("hashchange", route);
route();
