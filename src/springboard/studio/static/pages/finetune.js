import { get, post, sm } from "../api.js";
import { h, field, table, showError, action, ROLE } from "../ui.js";

const DEFAULT_TEMPLATE = '{\n  "prompt": "{prompt}",\n  "completion": " {completion}"\n}';

function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }
const readFile = (file) => new Promise((ok, bad) => { const r = new FileReader(); r.onload = () => ok(r.result); r.onerror = () => bad(r.error); r.readAsText(file); });

export async function render(main, [modelId], query) {
  const [c, cfg] = await Promise.all([get(`/studio/api/models/${encodeURIComponent(modelId)}`), get("/studio/api/config")]);
  const s = c.spec;
  const causal = s.architecture === "causal";
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const name = h("input", { type: "text", id: "job-name", value: `${s.model_id.slice(0, 40)}-ft-${stamp}`.replace(/[^a-zA-Z0-9-]/g, "-") });
  const srcPath = h("input", { type: "radio", name: "src", id: "src-path", value: "path", checked: true });
  const srcUpload = h("input", { type: "radio", name: "src", id: "src-upload", value: "upload" });
  const dataPath = h("input", { type: "text", id: "data-path", placeholder: "/path/to/train.jsonl or s3://bucket/prefix/" });
  const upload = h("input", { type: "file", id: "data-upload", accept: ".jsonl,.json,.csv,.txt" });
  const validationPath = h("input", { type: "text", id: "validation-path", placeholder: "optional: a validation file or folder" });
  const mode = h("select", { id: "mode" },
    h("option", { value: "instruction" }, "Instruction tuning (prompt / completion)"),
    ...(causal ? [h("option", { value: "chat" }, "Chat (messages)"), h("option", { value: "domain" }, "Domain adaptation (raw text)")] : []));
  const template = h("textarea", { id: "template", rows: 5 }, DEFAULT_TEMPLATE);
  const previewBox = h("div", { id: "template-preview", class: "preview", "aria-live": "polite" });
  const hpStatus = h("p", { id: "hp-status", role: "status", "aria-live": "polite" });
  const output = h("input", { type: "text", id: "output-path", value: cfg.output_path });
  const eula = h("input", { type: "checkbox", id: "accept-eula" });
  const inputs = {};
  const MODE_KEYS = ["instruction_tuned", "chat_dataset"];  // set by "Kind of tuning" (causal models)
  const rows = c.hyperparameters.filter((p) => !(causal && MODE_KEYS.includes(p.canonical))).map((p) => {
    const input = h("input", { type: "text", id: `hp-${p.name}`, value: p.default, "aria-label": p.name });
    inputs[p.name] = input;
    return [h("label", { for: input.id }, p.name), input, p.type || "", p.range || (p.choices ? p.choices.join(", ") : "")];
  });
  // Every other field of the family's schema: sent only when filled in.
  const defaults = new Set(c.hyperparameters.map((p) => p.name));
  const given = new Set(c.hyperparameters.map((p) => p.canonical));
  const advanced = Object.entries(c.schema).filter(([k]) => !given.has(k) && !MODE_KEYS.includes(k)).map(([k, p]) => {
    const input = h("input", { type: "text", id: `hp-${k}`, value: "", placeholder: `default: ${p.default}`, "aria-label": k });
    inputs[k] = input;
    return [h("label", { for: input.id }, k), input, p.type || "", p.range || (p.choices ? p.choices.join(", ") : ""), p.description || ""];
  });
  const submit = h("button", { type: "submit", class: "primary", id: "start-training" }, "Start fine-tuning");

  const hyperparameters = () => {
    const hp = Object.fromEntries(Object.entries(inputs).filter(([k, i]) => defaults.has(k) || i.value.trim()).map(([k, i]) => [k, i.value.trim()]));
    if (causal) {
      hp.instruction_tuned = mode.value === "instruction" ? "True" : "False";
      hp.chat_dataset = mode.value === "chat" ? "True" : "False";
    }
    return hp;
  };
  const validate = async () => {
    try {
      await post("/studio/api/hyperparameters/validate", { model: s.model_id, hyperparameters: hyperparameters() });
      hpStatus.className = "msg-ok"; hpStatus.textContent = "Hyperparameters are valid.";
      return true;
    } catch (err) { hpStatus.className = "msg-bad"; hpStatus.textContent = err.detail || err.message; return false; }
  };
  const uploadText = async () => (upload.files[0] ? readFile(upload.files[0]) : null);
  let previews = 0;  // only the latest preview request draws
  const preview = async () => {
    const mine = ++previews;
    previewBox.replaceChildren();
    if (mode.value !== "instruction" || !template.value.trim()) return;
    const body = { template: template.value, count: 3 };
    if (srcUpload.checked) {
      if (!upload.files[0]) return;
      const head = await readFile(upload.files[0].slice(0, 262144));  // the first records are enough
      body.records = upload.files[0].size > 262144 ? head.slice(0, head.lastIndexOf("\n") + 1) : head;
    }
    else { if (!dataPath.value.trim()) return; body.data = dataPath.value.trim(); }
    try {
      const { examples } = await post("/studio/api/template/preview", body);
      if (mine !== previews) return;
      previewBox.replaceChildren(h("h3", {}, "First rendered examples"), table(["Line", "Prompt", "Completion"],
        examples.map((e) => [String(e.line), h("pre", {}, e.prompt), h("pre", {}, e.completion)])));
    } catch (err) { if (mine === previews) previewBox.replaceChildren(h("p", { class: "msg-bad" }, err.detail || err.message)); }
  };
  Object.values(inputs).forEach((i) => i.addEventListener("input", debounce(validate, 250)));
  mode.addEventListener("change", () => { validate(); preview(); templateBox.hidden = mode.value !== "instruction"; });
  for (const el of [template, dataPath]) el.addEventListener("input", debounce(preview, 300));
  for (const el of [upload, srcPath, srcUpload]) el.addEventListener("change", preview);
  const templateBox = h("fieldset", {}, h("legend", {}, "template.json"),
    field("Template (prompt / completion with {field} placeholders)", template), previewBox);

  const form = h("form", { id: "finetune-form" },
    field("Job name", name),
    h("fieldset", {}, h("legend", {}, "Training data"),
      h("label", {}, srcPath, " From a path or URI"), field("Data path", dataPath),
      h("label", {}, srcUpload, " Upload a file"), field("File", upload),
      field("Validation channel (or leave empty and use validation_split_ratio below)", validationPath)),
    field("Kind of tuning", mode), templateBox,
    h("h2", {}, "Hyperparameters"), table(["Name", "Value", "Type", "Range / choices"], rows),
    h("details", {}, h("summary", {}, "More hyperparameters (left empty: the schema's default)"),
      table(["Name", "Value", "Type", "Range / choices", "Notes"], advanced)), hpStatus,
    field("Output path", output),
    s.requires_eula ? h("label", {}, eula, ` I accept the ${s.model_id} EULA`) : "",
    submit);
  main.append(h("h1", {}, `Fine-tune ${s.model_id}`), form);
  // From another page (a crawl export): the channel and the kind of tuning.
  if (query.get("data")) dataPath.value = query.get("data");
  if (query.get("mode") && [...mode.options].some((o) => o.value === query.get("mode"))) {
    mode.value = query.get("mode"); templateBox.hidden = mode.value !== "instruction";
  }
  validate();

  action(submit, async () => {
    if (!(await validate())) throw new Error(hpStatus.textContent);
    const useTemplate = mode.value === "instruction" && template.value.trim();
    let train;
    if (srcUpload.checked) {
      const text = await uploadText();
      if (text === null) throw new Error("choose a file to upload");
      train = (await post("/studio/api/datasets", { files: { [upload.files[0].name]: text }, ...(useTemplate ? { template: template.value } : {}) })).path;
    } else {
      if (!dataPath.value.trim()) throw new Error("give the training data path");
      train = useTemplate ? (await post("/studio/api/datasets", { source: dataPath.value.trim(), template: template.value })).path : dataPath.value.trim();
    }
    const channel = (n, uri) => ({ ChannelName: n, DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: uri, S3DataDistributionType: "FullyReplicated" } } });
    const channels = [channel("training", train), channel("model", s.model_id)];
    if (validationPath.value.trim()) channels.push(channel("validation", validationPath.value.trim()));
    const request = {
      TrainingJobName: name.value.trim(),
      AlgorithmSpecification: { TrainingImage: "springboard-training", TrainingInputMode: "File" },
      RoleArn: ROLE, HyperParameters: hyperparameters(), InputDataConfig: channels,
      OutputDataConfig: { S3OutputPath: output.value.trim() },
      ResourceConfig: { InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 30 },
      StoppingCondition: { MaxRuntimeInSeconds: 86400 },
    };
    if (eula.checked) request.Environment = { accept_eula: "true" };
    await sm("CreateTrainingJob", request);
    location.hash = `#/job/${encodeURIComponent(request.TrainingJobName)}`;
  });
}
