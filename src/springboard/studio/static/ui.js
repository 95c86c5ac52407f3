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

export function showError(err) {
  const box = document.getElementById("error");
  box.textContent = err ? (err.message || String(err)) : "";
  box.hidden = !err;
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
