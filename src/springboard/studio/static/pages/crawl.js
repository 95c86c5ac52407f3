import { get, post } from "../api.js";
import { h, table, status, when, field, action } from "../ui.js";

const QUALITY = ["gopher", "gopher_quality", "gopher_repetition", "c4", "fineweb"];
const lines = (text) => text.split(/\n/).map((s) => s.trim()).filter(Boolean);
const csv = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);

export async function render(main, _args, query, ctx) {
  const cfg = await get("/studio/api/config");
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(2, 12);
  const name = h("input", { type: "text", id: "cr-name", value: `crawl-${stamp}` });
  const inputs = h("textarea", { id: "cr-inputs", rows: 3, placeholder: "one WARC/WET file, glob, folder or URI a line" });
  const records = h("input", { type: "text", id: "cr-records", placeholder: "optional: a record list from `springboard crawl index query --format records`" });
  const output = h("input", { type: "text", id: "cr-output", value: `${cfg.home}/studio/crawl/${name.value}` });
  name.addEventListener("input", () => { output.value = `${cfg.home}/studio/crawl/${name.value}`; });
  const extract = h("select", { id: "cr-extract" }, ...["main", "all", "none"].map((v) => h("option", { value: v }, v)));
  const languages = h("input", { type: "text", id: "cr-languages", placeholder: "e.g. eng,deu (empty: any)" });
  const quality = QUALITY.map((q) => h("input", { type: "checkbox", value: q, id: `cr-q-${q}` }));
  const dedup = ["exact", "minhash"].map((d) => h("input", { type: "checkbox", value: d, id: `cr-d-${d}` }));
  const run = h("button", { type: "submit", class: "primary", id: "cr-run" }, "Run crawl job");
  // From an index query: the usual question (host, URL, languages, MIME) as a record list.
  const qIndex = h("input", { type: "text", id: "cq-index", placeholder: "cc-index table: folder, s3:// or https://" });
  const qHost = h("input", { type: "text", id: "cq-host", placeholder: "host or registered domain" });
  const qUrl = h("input", { type: "text", id: "cq-url", placeholder: "URL contains" });
  const qLang = h("input", { type: "text", id: "cq-languages", placeholder: "e.g. eng,deu (empty: any)" });
  const qLimit = h("input", { type: "number", id: "cq-limit", value: "1000", min: "1" });
  const qFind = h("button", { type: "button", id: "cq-find" }, "Find records");
  const qResult = h("div", { id: "cq-result", "aria-live": "polite" });
  const jobsBox = h("div", { id: "cr-jobs" });
  const detail = h("div", { id: "cr-detail", "aria-live": "polite" });
  main.append(h("h1", {}, "Crawl"),
    h("form", { id: "cr-form" }, field("Job name", name), field("Archives", inputs), field("…or a record list", records),
      field("Output folder (Parquet parts)", output), field("HTML → text", extract), field("Languages", languages),
      h("fieldset", {}, h("legend", {}, "Quality filters"), ...quality.map((q) => h("label", { for: q.id }, q, ` ${q.value}`))),
      h("fieldset", {}, h("legend", {}, "Deduplication"), ...dedup.map((d) => h("label", { for: d.id }, d, ` ${d.value}`))), run),
    h("h2", {}, "Records from an index query"),
    h("form", { id: "cq-form" }, field("Index", qIndex), field("Host", qHost), field("URL contains", qUrl),
      field("Languages", qLang), field("At most", qLimit), qFind, qResult),
    h("h2", {}, "Crawl jobs"), jobsBox, detail);
  action(qFind, async () => {
    const body = { index: qIndex.value.trim(), languages: csv(qLang.value), limit: Number(qLimit.value),
      out: `${cfg.home}/studio/crawl/records-${Date.now()}.parquet` };
    if (qHost.value.trim()) body.host = qHost.value.trim();
    if (qUrl.value.trim()) body.url_contains = qUrl.value.trim();
    const r = await post("/studio/api/crawl/index-query", body);
    records.value = r.records;  // the crawl form above now reads these records
    qResult.replaceChildren(h("p", {}, `${r.rows} records → `, h("code", {}, r.records), " (set as the crawl's record list)"),
      h("details", {}, h("summary", {}, "SQL"), h("pre", {}, r.sql)),
      r.preview.length ? h("ul", {}, ...r.preview.map((u) => h("li", {}, u))) : "");
  });

  let selected = query.get("job");
  let exportBox = null;
  const showJob = async (jobName) => {
    const job = await get(`/studio/api/jobs/${encodeURIComponent(jobName)}`);
    const { series } = await get(`/studio/api/jobs/${encodeURIComponent(jobName)}/metrics`);
    const counters = Object.entries(series).map(([k, pts]) => [k, String(pts[pts.length - 1].value)]);
    if (!exportBox || detail.dataset.job !== jobName) exportBox = exportForm(jobName, job.output, cfg);
    detail.replaceChildren(h("h3", {}, `Job ${jobName}`),
      h("p", {}, status(job.status), ` ${job.secondary_status} `, h("a", { href: `#/job/${encodeURIComponent(jobName)}` }, "log and timeline"),
        job.failure_reason ? h("span", { class: "msg-bad" }, ` ${job.failure_reason}`) : ""),
      h("h4", {}, "Counters (per filter and step)"), counters.length ? table(["Counter", "Value"], counters) : h("p", {}, "No counters yet."),
      job.status === "Completed" ? exportBox : "");
    detail.dataset.job = jobName; detail.dataset.status = job.status;
  };
  ctx.every(2000, async () => {
    const jobs = await get("/studio/api/jobs?kind=crawl");
    jobsBox.replaceChildren(jobs.length ? table(["Name", "Status", "Secondary status", "Created", ""], jobs.map((j) => {
      const b = h("button", { type: "button", "aria-label": `Show ${j.name}` }, "Show");
      b.addEventListener("click", () => { selected = j.name; showJob(selected); });
      return [j.name, status(j.status), j.secondary_status, when(j.creation_time), b];
    })) : h("p", {}, "No crawl jobs yet."));
    if (selected && detail.dataset.status !== "Completed") await showJob(selected);
  });
  action(run, async () => {
    const body = { name: name.value.trim(), inputs: lines(inputs.value), output: output.value.trim(), extract: extract.value,
      languages: csv(languages.value), quality: quality.filter((q) => q.checked).map((q) => q.value),
      dedup: dedup.filter((d) => d.checked).map((d) => d.value) };
    if (records.value.trim()) body.records = records.value.trim();
    await post("/studio/api/crawl/runs", body);
    selected = body.name; detail.dataset.status = "";
    await showJob(selected);
  });
}

function exportForm(jobName, parquet, cfg) {
  const outDir = h("input", { type: "text", id: "cr-export-dir", value: `${cfg.home}/studio/datasets/${jobName}` });
  const format = h("select", { id: "cr-export-format" }, h("option", { value: "jsonl" }, "jsonl ({\"text\": ...} a line)"), h("option", { value: "txt" }, "txt"));
  const go = h("button", { type: "button", class: "primary", id: "cr-export" }, "Export as a training channel");
  const result = h("div", { id: "cr-export-result", "aria-live": "polite" });
  action(go, async () => {
    const r = await post("/studio/api/crawl/export", { parquet, out_dir: outDir.value.trim(), format: format.value });
    const models = (await get(`/studio/api/models?filter=${encodeURIComponent("training_supported == true")}&filter=${encodeURIComponent("architecture == causal")}`)).models;
    const pick = h("select", { id: "cr-model" }, ...models.map((m) => h("option", { value: m.model_id }, m.model_id)));
    const link = h("a", { id: "cr-finetune", href: "#" }, "Fine-tune on this channel (domain adaptation)");
    const update = () => { link.href = `#/finetune/${encodeURIComponent(pick.value)}?data=${encodeURIComponent(r.channel)}&mode=domain`; };
    pick.addEventListener("change", update); update();
    result.replaceChildren(h("p", {}, `${r.documents} documents → ${r.path} (${r.bytes} bytes, ${r.skipped_empty} empty skipped). Training channel: `, h("code", {}, r.channel)),
      field("Model", pick), link);
  });
  return h("div", {}, h("h4", {}, "Export"), field("Channel folder", outDir), field("Format", format), go, result);
}
