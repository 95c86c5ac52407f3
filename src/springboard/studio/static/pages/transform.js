import { get, post, sm, request, apiKey } from "../api.js";
import { showError } from "../ui.js";
import { h, table, status, when, field, action, ROLE } from "../ui.js";
import { sig4, progressOf, progressView } from "../progress.js";

// A file from a job's output folder, downloaded with the API key (a plain link cannot send it).
async function download(job, file) {
  const r = await fetch(`/studio/api/jobs/${encodeURIComponent(job)}/files/${file.split("/").map(encodeURIComponent).join("/")}`,
    { headers: apiKey() ? { Authorization: `Bearer ${apiKey()}` } : {} });
  if (!r.ok) throw new Error(`download failed: ${r.status} ${await r.text()}`);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: file.split("/").pop() });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export async function render(main, _args, query, ctx) {
  const cfg = await get("/studio/api/config");
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const name = h("input", { type: "text", id: "tf-name", value: `transform-${stamp}` });
  const modelSelect = h("select", { id: "tf-model" }, h("option", { value: "" }, "(create one from the field below)"));
  const newModel = h("input", { type: "text", id: "tf-new-model", placeholder: "catalog model id, training job name, or artifact path" });
  const input = h("input", { type: "text", id: "tf-input", placeholder: "a .jsonl file or a folder of them" });
  const srcPath = h("input", { type: "radio", name: "tf-source", id: "tf-src-path", value: "path", checked: true });
  const srcUpload = h("input", { type: "radio", name: "tf-source", id: "tf-src-upload", value: "upload" });
  const upload = h("input", { type: "file", id: "tf-upload", accept: ".jsonl,.json,.csv,.txt" });
  const contentType = h("select", { id: "tf-content-type" }, ...["application/jsonlines", "text/csv", "application/json"].map((t) => h("option", { value: t }, t)));
  const output = h("input", { type: "text", id: "tf-output", value: `${cfg.home}/studio/transform/${name.value}` });
  name.addEventListener("input", () => { output.value = `${cfg.home}/studio/transform/${name.value}`; });
  const create = h("button", { type: "submit", class: "primary", id: "tf-create" }, "Create transform job");
  const jobsBox = h("div", { id: "tf-jobs" });
  const detail = h("div", { id: "tf-detail", "aria-live": "polite" });
  const refs = h("input", { type: "text", id: "ev-references", placeholder: "references .jsonl" });
  const on = h("input", { type: "text", id: "ev-on", value: "id" });
  // Both fields are picked from the files' own fields (read by /studio/api/fields).
  const predField = h("select", { id: "ev-pred-field" }, h("option", { value: "" }, "(pick a job first)"));
  const refField = h("select", { id: "ev-ref-field" }, h("option", { value: "" }, "(give the references file first)"));
  const examples = h("div", { id: "ev-examples" });
  const picks = h("div", { id: "ev-picks" });
  const score = h("button", { type: "submit", class: "primary", id: "ev-score" }, "Score with ROUGE");
  const report = h("div", { id: "ev-report", "aria-live": "polite" });

  main.append(h("h1", {}, "Batch transform and evaluation"),
    h("h2", {}, "Create a transform job"),
    h("form", { id: "tf-form" }, field("Job name", name), field("Model", modelSelect), field("…or a new model from", newModel),
      h("fieldset", {}, h("legend", {}, "Input"), h("label", {}, srcPath, " From a path or URI"), field("Input (path or URI)", input),
        h("label", {}, srcUpload, " Upload a file (stored under the home, in studio/uploads)"), field("File to upload", upload)),
      field("Content type", contentType), field("Output path", output), create),
    h("h2", {}, "Transform jobs"), jobsBox, detail,
    h("h2", {}, "Evaluate: ROUGE against references"),
    h("form", { id: "ev-form" }, h("fieldset", {}, h("legend", {}, "Predictions (.out files of completed jobs; pick one or two to compare)"), picks),
      field("References file", refs), field("Join on field", on), field("Prediction field", predField), field("Reference field", refField), score),
    report, examples);
  for (const el of [input, upload]) el.addEventListener("change", () => { (el === upload ? srcUpload : srcPath).checked = true; });

  // A <select> filled with a file's fields; keeps the choice when still there, else the first
  // field that is not the join key (or `prefer` when the file has it).
  const fillFields = async (select, path, prefer) => {
    const { fields } = await get(`/studio/api/fields?path=${encodeURIComponent(path)}`);
    const was = select.value;
    select.replaceChildren(...fields.map((f) => h("option", { value: f }, f)));
    const others = fields.filter((f) => f !== on.value.trim());
    select.value = fields.includes(was) ? was : prefer && fields.includes(prefer) ? prefer : others[0] || fields[0] || "";
    select.dataset.path = path;
  };
  refs.addEventListener("change", async () => {
    if (!refs.value.trim()) return;
    try { showError(null); await fillFields(refField, refs.value.trim()); } catch (err) { showError(err); }
  });
  const pickedOut = async () => {
    const picked = [...picks.querySelectorAll("input:checked")].map((i) => i.value);
    if (!picked.length) return;
    if (!outs.has(picked[0])) await showJob(picked[0]);
    const out = (outs.get(picked[0]) || [])[0];
    if (out && predField.dataset.path !== out) await fillFields(predField, out, "generated_texts[0]");
  };
  picks.addEventListener("change", async () => { try { showError(null); await pickedOut(); } catch (err) { showError(err); } });

  const models = (await sm("ListModels", { MaxResults: 100 })).Models || [];
  models.forEach((m) => modelSelect.append(h("option", { value: m.ModelName }, m.ModelName)));
  if (models.length) modelSelect.value = models[0].ModelName;
  let selected = query.get("job");
  const outs = new Map();  // job -> [.out paths]

  const showJob = async (jobName) => {
    const d = await sm("DescribeTransformJob", { TransformJobName: jobName });
    const { series } = await get(`/studio/api/jobs/${encodeURIComponent(jobName)}/metrics`);
    const latest = Object.entries(series).map(([k, pts]) => [k, sig4(pts[pts.length - 1].value)]);
    const job = { kind: "transform", status: d.TransformJobStatus, start_time: d.TransformStartTime };
    const files = await get(`/studio/api/jobs/${encodeURIComponent(jobName)}/files`);
    const outFiles = files.filter((f) => f.name.endsWith(".out"));
    const base = d.TransformOutput.S3OutputPath.replace(/\/$/, "");
    outs.set(jobName, outFiles.map((f) => `${base}/${f.name}`));
    detail.replaceChildren(h("h3", {}, `Job ${jobName}`),
      table(["Status", "Model", "Input", "Output", "Started", "Ended", "Failure"], [[status(d.TransformJobStatus), d.ModelName,
        d.TransformInput.DataSource.S3DataSource.S3Uri, d.TransformOutput.S3OutputPath, when(d.TransformStartTime), when(d.TransformEndTime), d.FailureReason || ""]]),
      h("h4", {}, "Progress"), h("div", { id: "tf-progress" }, progressView(job, progressOf(job, series)),
        d.TransformJobStatus === "InProgress" && d.SecondaryStatus ? h("p", { class: "muted" }, `Now: ${d.SecondaryStatus}`) : ""),
      latest.length ? table(["Metric", "Value"], latest) : "",
      h("h4", {}, "Output files"), outFiles.length ? table(["File", "Size", ""], outFiles.map((f) => {
        const b = h("button", { type: "button", "aria-label": `Download ${f.name}` }, "Download");
        action(b, () => download(jobName, f.name));
        return [f.name, `${f.size} bytes`, b];
      })) : h("p", {}, "No output yet."));
    detail.dataset.status = d.TransformJobStatus;
  };

  ctx.every(2000, async () => {
    const jobs = (await sm("ListTransformJobs", { MaxResults: 100 })).TransformJobSummaries || [];
    jobsBox.replaceChildren(jobs.length ? table(["Name", "Status", "Created", ""], jobs.map((j) => {
      const b = h("button", { type: "button", "aria-label": `Show ${j.TransformJobName}` }, "Show");
      b.addEventListener("click", () => { selected = j.TransformJobName; showJob(selected); });
      return [j.TransformJobName, status(j.TransformJobStatus), when(j.CreationTime), b];
    })) : h("p", {}, "No transform jobs yet."));
    if (selected) await showJob(selected);
    const done = jobs.filter((j) => j.TransformJobStatus === "Completed").map((j) => j.TransformJobName);
    if (picks.dataset.jobs !== done.join()) {
      picks.dataset.jobs = done.join();
      const checked = new Set([...picks.querySelectorAll("input:checked")].map((i) => i.value));
      picks.replaceChildren(...done.map((n) => h("label", {}, h("input", { type: "checkbox", value: n, checked: checked.has(n) }), ` ${n}`)));
    }
  });

  action(create, async () => {
    let model = modelSelect.value;
    if (newModel.value.trim()) {
      model = `${name.value.trim()}-model`.slice(0, 63);
      await sm("CreateModel", { ModelName: model, ExecutionRoleArn: ROLE, PrimaryContainer: { Image: "springboard-inference", ModelDataUrl: newModel.value.trim() } });
    }
    if (!model) throw new Error("choose a model or give one to create");
    let source = input.value.trim();
    if (srcUpload.checked) {
      const file = upload.files[0];
      if (!file) throw new Error("choose a file to upload");
      source = (await post("/studio/api/uploads", { files: { [file.name]: await file.text() } })).path;
      input.value = source;
    }
    await sm("CreateTransformJob", {
      TransformJobName: name.value.trim(), ModelName: model, BatchStrategy: "MultiRecord",
      TransformInput: { DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: source } }, ContentType: contentType.value, SplitType: "Line" },
      TransformOutput: { S3OutputPath: output.value.trim(), Accept: "application/jsonlines", AssembleWith: "Line" },
      TransformResources: { InstanceType: "ml.m5.xlarge", InstanceCount: 1 },
    });
    selected = name.value.trim();
    await showJob(selected);
  });

  action(score, async () => {
    const jobsPicked = [...picks.querySelectorAll("input:checked")].map((i) => i.value);
    if (!jobsPicked.length) throw new Error("pick at least one completed transform job");
    for (const j of jobsPicked) if (!outs.has(j)) await showJob(j);
    const predictions = jobsPicked.map((j) => outs.get(j)[0]).filter(Boolean);
    if (predictions.length !== jobsPicked.length) throw new Error("a picked job has no .out file here");
    if (!refField.value) await fillFields(refField, refs.value.trim());
    if (!predField.value) await pickedOut();
    const { reports } = await post("/studio/api/evaluate/rouge", { predictions, references: refs.value.trim(), on: on.value.trim(),
      prediction_field: predField.value, reference_field: refField.value, examples: true });
    const fmt = (x) => (x === undefined || x === null ? "" : (100 * x).toFixed(2));
    report.replaceChildren(h("h3", {}, "ROUGE (F-measure, %)"), table(["Job", "rouge1", "rouge2", "rougeL", "rougeLsum", "Scored", "Missing", "Failed"],
      reports.map((r, i) => [jobsPicked[i], fmt(r.scores?.rouge1), fmt(r.scores?.rouge2), fmt(r.scores?.rougeL), fmt(r.scores?.rougeLsum),
        String(r.count), String(r.missing_in_predictions.length), String(r.failed.length)])));
    showExamples(reports.flatMap((r, i) => r.examples.map((e) => ({ job: jobsPicked[i], ...e }))));
  });

  // Per-example predictions beside their references, sortable by any ROUGE score.
  const TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"];
  let rows = [], sortKey = null, sortDir = 1;
  const showExamples = (list) => { rows = list; sortKey = null; drawExamples(); };
  const drawExamples = () => {
    const shown = sortKey ? [...rows].sort((a, b) => sortDir * (a.scores[sortKey] - b.scores[sortKey])) : rows;
    const head = ["Job", "Id", "Reference", "Prediction"].map((x) => h("th", { scope: "col" }, x));
    for (const t of TYPES) {
      const b = h("button", { type: "button", id: `ev-sort-${t}` }, t, sortKey === t ? (sortDir > 0 ? " ▲" : " ▼") : "");
      b.addEventListener("click", () => { sortDir = sortKey === t ? -sortDir : -1; sortKey = t; drawExamples(); document.getElementById(`ev-sort-${t}`).focus(); });
      head.push(h("th", { scope: "col", "aria-sort": sortKey === t ? (sortDir > 0 ? "ascending" : "descending") : "none" }, b));
    }
    examples.replaceChildren(!rows.length ? "" : h("h3", {}, "Per example (F-measure, %; a score header sorts by it)"),
      !rows.length ? "" : h("table", { id: "ev-examples-table" }, h("thead", {}, h("tr", {}, ...head)),
        h("tbody", {}, ...shown.map((e) => h("tr", { dataset: { id: String(e.id) } }, h("td", {}, e.job), h("td", {}, String(e.id)),
          h("td", {}, e.reference), h("td", {}, e.prediction), ...TYPES.map((t) => h("td", {}, (100 * e.scores[t]).toFixed(2))))))));
  };
}
