import { get, post, request, sm } from "../api.js";
import { h, field, table, action, ROLE } from "../ui.js";

const DEFAULT_TEMPLATE = '{\n  "prompt": "{prompt}",\n  "completion": " {completion}"\n}';
// SageMaker's rule for a job name, [a-zA-Z0-9](-*[a-zA-Z0-9])* up to 63 characters, in words.
const NAME_RULE = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
const NAME_WORDS = "1 to 63 characters: letters, digits and hyphens (-), starting and ending with a letter or digit (no spaces, dots or underscores)";

function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }
const readFile = (file) => new Promise((ok, bad) => { const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = () => bad(r.error); r.readAsText(file); });
const isTrue = (v) => String(v).toLowerCase() === "true";

// One hyperparameter's control by its schema type: a select for choices, a checkbox for a
// boolean, a number input with the range's bounds, else text. `read()` is the string sent
// (SageMaker style), or null for an optional field left at the schema's default.
function widget(name, p, value, optional) {
  const id = `hp-${name}`;
  const common = { id, "aria-label": name, "aria-describedby": `${id}-error` };
  if (p.type === "boolean") {
    const box = h("input", { type: "checkbox", ...common, checked: isTrue(value === "" ? p.default : value) });
    const initial = box.checked;
    return { control: box, read: () => (optional && box.checked === initial ? null : box.checked ? "True" : "False"), set: (v) => { box.checked = isTrue(v); } };
  }
  if (p.type === "choice") {
    const choices = (p.choices || []).map(String);
    const sel = h("select", common, ...(optional ? [h("option", { value: "" }, `(default: ${p.default})`)] : []),
      ...choices.map((c) => h("option", { value: c }, c)));
    sel.value = optional ? "" : String(value);
    return { control: sel, read: () => (optional && !sel.value ? null : sel.value), set: (v) => { sel.value = String(v); } };
  }
  const numeric = p.type === "integer" || p.type === "number";
  const attrs = { type: numeric ? "number" : "text", ...common, value: optional ? "" : String(value) };
  if (numeric) {
    attrs.step = p.type === "integer" ? "1" : "any";
    if (p.minimum !== undefined && !p.exclusive_minimum) attrs.min = String(p.minimum);
    if (p.maximum !== undefined && !p.exclusive_maximum) attrs.max = String(p.maximum);
  }
  if (optional) attrs.placeholder = `default: ${p.default}`;
  const input = h("input", attrs);
  return { control: input, read: () => (optional && !input.value.trim() ? null : input.value.trim()), set: (v) => { input.value = String(v); } };
}

export async function render(main, [modelId], query) {
  const [c, cfg] = await Promise.all([get(`/studio/api/models/${encodeURIComponent(modelId)}`), get("/studio/api/config")]);
  const s = c.spec;
  const causal = s.architecture === "causal";
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const name = h("input", { type: "text", id: "job-name", value: `${s.model_id.slice(0, 40)}-ft-${stamp}`.replace(/[^a-zA-Z0-9-]/g, "-"), "aria-describedby": "job-name-error" });
  const nameError = h("div", { id: "job-name-error", class: "msg-bad", "aria-live": "polite" });
  const srcPath = h("input", { type: "radio", name: "src", id: "src-path", value: "path", checked: true });
  const srcUpload = h("input", { type: "radio", name: "src", id: "src-upload", value: "upload" });
  const dataPath = h("input", { type: "text", id: "data-path", placeholder: "/path/to/train.jsonl or s3://bucket/prefix/" });
  const upload = h("input", { type: "file", id: "data-upload", accept: ".jsonl,.json,.csv,.txt" });
  const validationPath = h("input", { type: "text", id: "validation-path", placeholder: "optional: a validation file or folder" });
  const mode = h("select", { id: "mode" },
    h("option", { value: "instruction" }, "Instruction tuning (prompt / completion)"),
    ...(causal ? [h("option", { value: "chat" }, "Chat (messages)"), h("option", { value: "domain" }, "Domain adaptation (raw text)")] : []));
  const template = h("textarea", { id: "template", rows: 5 }, DEFAULT_TEMPLATE);
  const templateSource = h("p", { id: "template-source", class: "muted", "aria-live": "polite" });
  const previewBox = h("div", { id: "template-preview", class: "preview", "aria-live": "polite" });
  const dataSummary = h("div", { id: "data-summary", "aria-live": "polite" });
  const tokenBox = h("div", { id: "token-lengths" });
  const mapPrompt = h("select", { id: "map-prompt" }, h("option", { value: "" }, "(choose a field)"));
  const mapCompletion = h("select", { id: "map-completion" }, h("option", { value: "" }, "(choose a field)"));
  const mapApply = h("button", { type: "button", id: "map-apply" }, "Use these fields as the template");
  const hpStatus = h("p", { id: "hp-status", role: "status", "aria-live": "polite" });
  const output = h("input", { type: "text", id: "output-path", value: cfg.output_path });
  const eula = h("input", { type: "checkbox", id: "accept-eula" });
  const widgets = {};
  const errorCell = (n) => h("span", { id: `hp-${n}-error`, class: "msg-bad" });
  const MODE_KEYS = ["instruction_tuned", "chat_dataset"];  // set by "Kind of tuning" (causal models)
  const rows = c.hyperparameters.filter((p) => !(causal && MODE_KEYS.includes(p.canonical))).map((p) => {
    const w = widgets[p.name] = widget(p.name, p, p.default, false);
    return [h("label", { for: w.control.id }, p.name), w.control, p.type || "", p.range || (p.choices ? p.choices.join(", ") : ""), errorCell(p.name)];
  });
  // Every other field of the family's schema: sent only when changed from its default.
  const given = new Set(c.hyperparameters.map((p) => p.canonical));
  const advanced = Object.entries(c.schema).filter(([k]) => !given.has(k) && !MODE_KEYS.includes(k)).map(([k, p]) => {
    const w = widgets[k] = widget(k, p, "", true);
    return [h("label", { for: w.control.id }, k), w.control, p.type || "", p.range || (p.choices ? p.choices.join(", ") : ""), errorCell(k), p.description || ""];
  });
  const submit = h("button", { type: "submit", class: "primary", id: "start-training" }, "Start fine-tuning");

  const hyperparameters = () => {
    const hp = {};
    for (const [k, w] of Object.entries(widgets)) { const v = w.read(); if (v !== null) hp[k] = v; }
    if (causal) {
      hp.instruction_tuned = mode.value === "instruction" ? "True" : "False";
      hp.chat_dataset = mode.value === "chat" ? "True" : "False";
    }
    return hp;
  };

  const checkName = () => {
    const v = name.value.trim();
    nameError.textContent = !v ? `Give the job a name: ${NAME_WORDS}.` : NAME_RULE.test(v) ? "" : `"${v}" is not a valid job name: ${NAME_WORDS}.`;
    name.setAttribute("aria-invalid", nameError.textContent ? "true" : "false");
    return !nameError.textContent;
  };

  // Every error at once, each beside its field; one the form has no field for goes under the table.
  const validate = async () => {
    for (const n of Object.keys(widgets)) {
      document.getElementById(`hp-${n}-error`).textContent = "";
      widgets[n].control.removeAttribute("aria-invalid");
    }
    try {
      await post("/studio/api/hyperparameters/validate", { model: s.model_id, hyperparameters: hyperparameters() });
      hpStatus.className = "msg-ok"; hpStatus.textContent = "Hyperparameters are valid.";
      return true;
    } catch (err) {
      const loose = [];
      for (const e of err.errors || [{ field: "", message: err.detail || err.message }]) {
        const cell = widgets[e.field] && document.getElementById(`hp-${e.field}-error`);
        if (cell) { cell.textContent = e.message; widgets[e.field].control.setAttribute("aria-invalid", "true"); } else loose.push(e.message);
      }
      const n = (err.errors || []).length;
      hpStatus.className = "msg-bad";
      hpStatus.textContent = [n > 1 ? `${n} hyperparameters need fixing (marked beside each).` : n === 1 ? "A hyperparameter needs fixing (marked beside it)." : "", ...loose].filter(Boolean).join(" ");
      return false;
    }
  };

  // The template: the editor's text once the user edits it (or maps fields); until then a
  // folder's own template.json wins over the editor's default.
  let templateEdited = false;
  let folderTemplate = null;  // the template.json path the last preview used from the data's folder
  const uploadBody = async () => ({ name: upload.files[0].name, text: await readFile(upload.files[0]) });
  const maxInputLength = () => {
    const w = widgets.max_input_length;
    const v = w ? Number(w.read()) : NaN;
    return Number.isInteger(v) && v >= -1 ? v : null;
  };
  const previewBody = async () => {
    const body = { model: s.model_id, template: template.value, count: 3, max_input_length: maxInputLength() };
    if (srcUpload.checked) {
      if (!upload.files[0]) return null;
      body.upload = await uploadBody();
    } else {
      if (!dataPath.value.trim()) return null;
      body.data = dataPath.value.trim();
      body.folder_template_first = !templateEdited;
    }
    return body;
  };
  const setFields = (fields) => {
    for (const sel of [mapPrompt, mapCompletion]) {
      const keep = sel.value;
      sel.replaceChildren(h("option", { value: "" }, "(choose a field)"), ...fields.map((f) => h("option", { value: f }, f)));
      if (fields.includes(keep)) sel.value = keep;
    }
  };
  const drawLengths = (d) => {
    if (d.tokenizer_error) { tokenBox.replaceChildren(h("p", { class: "muted" }, d.tokenizer_error)); return; }
    const limit = d.max_input_length;
    const most = Math.max(1, ...d.histogram.map((b) => b.count));
    const over = limit && limit > 0 ? `${d.truncated} of ${d.rows} exceed max_input_length ${limit} and would be truncated.` : "No max_input_length limit given.";
    tokenBox.replaceChildren(
      h("h3", {}, `Token lengths (${d.measured}, ${s.model_id}'s tokenizer)`),
      h("p", { id: "token-summary", class: d.truncated ? "msg-bad" : "" }, `Longest ${d.longest} tokens. ${over}`),
      h("table", { id: "token-histogram" }, h("thead", {}, h("tr", {}, ...["Tokens", "Examples", ""].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, ...d.histogram.map((b) => {
          const beyond = limit && limit > 0 && b.high > limit;
          return h("tr", { class: beyond ? "over-limit" : "" }, h("td", {}, `${b.low}–${b.high}${beyond ? " (over the limit)" : ""}`), h("td", {}, String(b.count)),
            h("td", {}, h("div", { class: "bar", style: `width:${(100 * b.count / most).toFixed(1)}%;background:${beyond ? "var(--bad)" : "var(--ok)"};height:0.8em` })));
        }))));
  };
  let previews = 0;  // only the latest preview request draws
  // Resolves to the preview's answer; throws its error (file, line and field) when `raise`.
  const preview = async (raise = false) => {
    const mine = ++previews;
    if (mode.value !== "instruction") { previewBox.replaceChildren(); dataSummary.replaceChildren(); tokenBox.replaceChildren(); return null; }
    const body = await previewBody();
    if (!body) { previewBox.replaceChildren(); dataSummary.replaceChildren(); tokenBox.replaceChildren(); return null; }
    try {
      const d = await post("/studio/api/data/preview", body);
      if (mine !== previews) return d;
      folderTemplate = d.template_file;
      if (d.template_file && !templateEdited) template.value = d.template;
      templateSource.textContent = d.template_file ? `Using the folder's own ${d.template_file} (edit the template to use yours instead).`
        : srcPath.checked && !templateEdited ? "This folder has no template.json: the template below will be put beside a copy of the data." : "";
      dataSummary.replaceChildren(h("p", { id: "data-rows", dataset: { rows: String(d.rows) } }, `${d.rows} rows in ${d.source}. Fields: `,
        h("span", { id: "data-fields" }, d.fields.join(", "))));
      setFields(d.fields);
      drawLengths(d);
      previewBox.replaceChildren(h("h3", {}, "First rendered examples"), table(["Line", "Prompt", "Completion"],
        d.examples.map((e) => [String(e.line), h("pre", {}, e.prompt), h("pre", {}, e.completion)])));
      return d;
    } catch (err) {
      if (mine === previews) {
        dataSummary.replaceChildren(); tokenBox.replaceChildren();
        if (err.body && Array.isArray(err.body.fields)) setFields(err.body.fields);
        previewBox.replaceChildren(h("p", { class: "msg-bad", id: "data-error" }, err.detail || err.message));
      }
      if (raise) throw err;
      return null;
    }
  };
  const previewSoon = debounce(() => preview(), 300);
  for (const w of Object.values(widgets)) {
    w.control.addEventListener(w.control.tagName === "INPUT" && w.control.type !== "checkbox" ? "input" : "change", debounce(validate, 250));
  }
  if (widgets.max_input_length) widgets.max_input_length.control.addEventListener("input", previewSoon);
  mode.addEventListener("change", () => { validate(); preview(); templateBox.hidden = mode.value !== "instruction"; });
  template.addEventListener("input", () => { templateEdited = true; previewSoon(); });
  dataPath.addEventListener("input", () => { if (!templateEdited) template.value = DEFAULT_TEMPLATE; previewSoon(); });
  for (const el of [upload, srcPath, srcUpload]) el.addEventListener("change", () => preview());
  name.addEventListener("input", checkName);
  mapApply.addEventListener("click", () => {
    if (!mapPrompt.value || !mapCompletion.value) { templateSource.textContent = "Choose the prompt field and the completion field first."; return; }
    template.value = JSON.stringify({ prompt: `{${mapPrompt.value}}`, completion: ` {${mapCompletion.value}}` }, null, 2);
    templateEdited = true;
    preview();
  });
  const templateBox = h("fieldset", {}, h("legend", {}, "Data before training"),
    dataSummary,
    h("div", { class: "row" }, field("Prompt field", mapPrompt), field("Completion field", mapCompletion), mapApply),
    field("Template (prompt / completion with {field} placeholders)", template), templateSource, tokenBox, previewBox);

  const form = h("form", { id: "finetune-form" },
    field("Job name", name), nameError,
    h("fieldset", {}, h("legend", {}, "Training data"),
      h("label", {}, srcPath, " From a path or URI"), field("Data path", dataPath),
      h("label", {}, srcUpload, " Upload a file (JSON lines for instruction tuning)"), field("File", upload),
      field("Validation channel (or leave empty and use validation_split_ratio below)", validationPath)),
    field("Kind of tuning", mode), templateBox,
    h("h2", {}, "Hyperparameters"), table(["Name", "Value", "Type", "Range / choices", ""], rows),
    h("details", {}, h("summary", {}, "More hyperparameters (left as they are: the schema's default)"),
      table(["Name", "Value", "Type", "Range / choices", "", "Notes"], advanced)), hpStatus,
    field("Output path", output),
    s.requires_eula ? h("label", {}, eula, ` I accept the ${s.model_id} EULA`) : "",
    submit);
  main.append(h("h1", {}, `Fine-tune ${s.model_id}`), form);
  // From another page (a crawl export, a job's clone link): the channel and the kind of tuning.
  if (query.get("data")) dataPath.value = query.get("data");
  if (query.get("mode") && [...mode.options].some((o) => o.value === query.get("mode"))) {
    mode.value = query.get("mode"); templateBox.hidden = mode.value !== "instruction";
  }
  if (query.get("clone")) {
    const job = await get(`/studio/api/jobs/${encodeURIComponent(query.get("clone"))}`);
    const jc = job.describe.Config || {};
    if (jc.train) dataPath.value = jc.train;
    if (jc.validation) validationPath.value = jc.validation;
    for (const [k, v] of Object.entries(jc.hyperparameters || {})) if (widgets[k]) widgets[k].set(v);
    if (causal && jc.hyperparameters) {
      const hp = jc.hyperparameters;
      mode.value = isTrue(hp.chat_dataset) ? "chat" : hp.instruction_tuned !== undefined && !isTrue(hp.instruction_tuned) ? "domain" : "instruction";
      if (![...mode.options].some((o) => o.value === mode.value)) mode.value = "instruction";
      templateBox.hidden = mode.value !== "instruction";
    }
    name.value = `${job.name.slice(0, 55)}-clone`;
  }
  validate();
  if (dataPath.value) preview();

  action(submit, async () => {
    const nameOk = checkName();
    const hpOk = await validate();
    if (!nameOk) { name.focus(); throw new Error(nameError.textContent); }
    if (!hpOk) throw new Error(hpStatus.textContent);
    const instruction = mode.value === "instruction";
    if (srcUpload.checked && !upload.files[0]) throw new Error("choose a file to upload");
    if (srcPath.checked && !dataPath.value.trim()) throw new Error("give the training data path");
    // The data is checked before anything is staged: a bad file stops here, named by line and field.
    if (instruction) await preview(true);
    let train, staged = null;
    if (srcUpload.checked) {
      const up = await uploadBody();
      staged = await post("/studio/api/datasets", { files: { [up.name]: up.text }, ...(instruction ? { template: template.value } : {}) });
      train = staged.path;
    } else if (instruction && !(folderTemplate && !templateEdited)) {
      staged = await post("/studio/api/datasets", { source: dataPath.value.trim(), template: template.value });
      train = staged.path;
    } else {
      train = dataPath.value.trim();  // the folder as it is, with its own template.json if it has one
    }
    const channel = (n, uri) => ({ ChannelName: n, DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: uri, S3DataDistributionType: "FullyReplicated" } } });
    const channels = [channel("training", train), channel("model", s.model_id)];
    if (validationPath.value.trim()) channels.push(channel("validation", validationPath.value.trim()));
    const req = {
      TrainingJobName: name.value.trim(),
      AlgorithmSpecification: { TrainingImage: "springboard-training", TrainingInputMode: "File" },
      RoleArn: ROLE, HyperParameters: hyperparameters(), InputDataConfig: channels,
      OutputDataConfig: { S3OutputPath: output.value.trim() },
      ResourceConfig: { InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 30 },
      StoppingCondition: { MaxRuntimeInSeconds: 86400 },
    };
    if (eula.checked) req.Environment = { accept_eula: "true" };
    try {
      await sm("CreateTrainingJob", req);
    } catch (err) {
      // a refused job leaves no dataset copy behind
      if (staged) await request("DELETE", `/studio/api/datasets/${encodeURIComponent(staged.name)}`).catch(() => {});
      throw err;
    }
    location.hash = `#/job/${encodeURIComponent(req.TrainingJobName)}`;
  });
}
