// DOM helpers shared by the pages: h() builds elements (text is never parsed as HTML).
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node && typeof v !== "string") node[k] = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c.nodeType ? c : String(c));
  return node;
}

// The banner remembers which request failed (err.key, set by api.js): clearError(key) hides it
// once that request succeeds; navigation and the next action clear it too.
export function showError(err) {
  const box = document.getElementById("error");
  box.textContent = err ? (err.message || String(err)) : "";
  box.hidden = !err;
  box.dataset.key = (err && err.key) || "";
  box.dataset.unreachable = err && err.unreachable ? "1" : "";
}

export function clearError(key) {
  const box = document.getElementById("error");
  if (!box.hidden && key && box.dataset.key === key) showError(null);
}

// A modal confirmation (Escape or Cancel: no); resolves true when confirmed. Cancel has the
// focus first, so Enter alone never confirms by accident.
export function confirmDialog(title, message, confirmLabel) {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", id: "confirm-cancel", autofocus: true }, "Cancel");
    const ok = h("button", { type: "button", class: "danger", id: "confirm-ok" }, confirmLabel);
    const dialog = h("dialog", { id: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-message" },
      h("h2", { id: "confirm-title" }, title), h("p", { id: "confirm-message" }, message), h("div", { class: "row" }, cancel, ok));
    let answer = false;
    cancel.addEventListener("click", () => dialog.close());
    ok.addEventListener("click", () => { answer = true; dialog.close(); });
    dialog.addEventListener("close", () => { dialog.remove(); resolve(answer); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// A labelled input: returns [wrapper, control].
let uid = 0;
export function field(label, control, help) {
  const id = control.id || `f${++uid}`;
  control.id = id;
  const parts = [h("label", { for: id }, label), control];
  if (help) { const hid = `${id}-help`; control.setAttribute("aria-describedby", hid); parts.push(h("div", { id: hid, class: "muted" }, help)); }
  return h("div", {}, ...parts);
}

export const status = (s) => h("span", { class: `status ${s}` }, s);
export const when = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
export const table = (head, rows) =>
  h("table", {}, h("thead", {}, h("tr", {}, ...head.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))));

// Runs an async action from a button; errors go to the page's alert.
export function action(button, fn) {
  button.addEventListener("click", async (event) => {
    event.preventDefault();
    button.disabled = true; showError(null);
    try { await fn(); } catch (err) { showError(err); } finally { button.disabled = false; }
  });
  return button;
}

export const ROLE = "arn:aws:iam::000000000000:role/springboard-studio";
