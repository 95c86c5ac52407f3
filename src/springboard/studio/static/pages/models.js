import { get } from "../api.js";
import { h, field, table, showError, action } from "../ui.js";

const FACET_LABELS = { task: "Task", framework: "Framework", architecture: "Architecture",
  training_supported: "Training supported", requires_eula: "Requires EULA", license: "Licence" };

// "task == text2text and training_supported == true" -> two filters (And).
export const splitFilters = (text) => text.split(/\s+and\s+/i).map((s) => s.trim()).filter(Boolean);

export async function list(main, _args, query) {
  const box = h("input", { type: "search", id: "model-filter", value: query.get("filter") || "",
    placeholder: "task == text2text and training_supported == true" });
  const results = h("div", { id: "model-results" });
  const facets = h("div", { class: "facets", id: "facets" });
  const form = h("form", { role: "search", onsubmit: (e) => { e.preventDefault(); location.hash = `#/models?filter=${encodeURIComponent(box.value)}`; } },
    field("Filter (JumpStart filter language: FIELD OPERATOR VALUE, joined with 'and')", box,
      "Operators: == != in [a, b] not in contains begins with ends with. Fields: task, framework, architecture, training_supported, requires_eula, license, model_id."),
    h("button", { type: "submit", class: "primary" }, "Search"));
  main.append(h("h1", {}, "Models"), form, h("div", { class: "row" }, facets, h("div", { class: "col" }, results)));
  const filters = splitFilters(box.value);
  const params = new URLSearchParams(); filters.forEach((f) => params.append("filter", f));
  const data = await get(`/studio/api/models?${params}`);
  for (const [key, counts] of Object.entries(data.facets)) {
    const set = h("fieldset", {}, h("legend", {}, FACET_LABELS[key] || key));
    for (const [value, n] of Object.entries(counts)) {
      const clause = `${key} == ${value}`;
      const on = filters.some((f) => f.replace(/\s+/g, " ").toLowerCase() === clause.toLowerCase());
      const cb = h("input", { type: "checkbox", checked: on, onchange: () => {
        const next = on ? filters.filter((f) => f.replace(/\s+/g, " ").toLowerCase() !== clause.toLowerCase()) : [...filters, clause];
        location.hash = `#/models?filter=${encodeURIComponent(next.join(" and "))}`;
      } });
      set.append(h("label", {}, cb, `${value} (${n})`));
    }
    facets.append(set);
  }
  results.append(h("p", { role: "status" }, `${data.models.length} of ${data.total} models`),
    table(["Model", "Task", "Architecture", "Training", "EULA", "Licence", "Weights"],
      data.models.map((m) => [h("a", { href: `#/model/${encodeURIComponent(m.model_id)}` }, m.model_id), m.task,
        m.architecture, m.training_supported ? "yes" : "no", m.requires_eula ? "yes" : "no", m.license, m.weights.state])));
}

export async function card(main, [modelId]) {
  const c = await get(`/studio/api/models/${encodeURIComponent(modelId)}`);
  const s = c.spec;
  main.append(h("h1", {}, s.display_name || s.model_id),
    h("p", {}, s.description || ""),
    h("p", {},
      s.training_supported ? h("a", { href: `#/finetune/${encodeURIComponent(s.model_id)}`, class: "button", id: "finetune-link" }, "Fine-tune this model") : "Fine-tuning not supported",
      " · ", h("a", { href: `#/endpoints?model=${encodeURIComponent(s.model_id)}` }, "Deploy this model")),
    h("h2", {}, "Spec"),
    table(["Field", "Value"], [["Model id", s.model_id], ["Version", s.version], ["Task", s.task], ["Framework", s.framework],
      ["Architecture", s.architecture], ["Parameters", s.parameters.toLocaleString()], ["Context length", s.context_length ?? ""],
      ["Payload format", s.payload_format], ["Source", JSON.stringify(s.source)], ["Aliases", (s.aliases || []).join(", ")]]),
    h("h2", {}, "Licence and EULA"),
    h("p", { id: "licence" }, `Licence: ${s.license}. `, s.requires_eula ?
      "This model requires accepting its EULA (accept_eula=true) before fine-tuning or deploying." : "No EULA to accept."),
    h("h2", {}, "Weights"),
    h("p", { id: "weights" }, c.weights.present ? `Present here (${c.weights.state}).` : `Not present here. ${c.weights.how}`),
    h("h2", {}, "Default hyperparameters"),
    table(["Name", "Default", "Type", "Range / choices"], c.hyperparameters.map((p) =>
      [p.name, p.default, p.type || "", p.range || (p.choices ? p.choices.join(", ") : "")])),
    h("h2", {}, "Default resources"),
    table(["Scope", "Device", "Dtype", "Method", "Estimated memory (GB)", "Basis"], Object.values(c.resources).map((r) =>
      [r.scope, r.device, r.dtype, r.method, r.estimated_memory_gb, r.basis])));
}
