import { get, post, sm, request } from "../api.js";
import { h, table, status, when, showError, action, ROLE, field } from "../ui.js";
import { drawPlot, plotColor } from "../plot.js";
import { deployEndpoint } from "./endpoints.js";
import { sig4, progressOf, progressView, collapseLog } from "../progress.js";

const STOP = { training: ["StopTrainingJob", "TrainingJobName"], transform: ["StopTransformJob", "TransformJobName"],
  automl: ["StopAutoMLJob", "AutoMLJobName"] };
const LOSSES = ["train_loss", "val_loss", "test_loss"];
const PERPLEXITIES = ["perplexity", "test_perplexity"];

const KINDS = ["training", "transform", "automl", "crawl"];
const STATUSES = ["InProgress", "Completed", "Failed", "Stopping", "Stopped"];

export async function list(main, _args, query, ctx) {
  const body = h("div", { id: "jobs-table" });
  const search = h("input", { type: "search", id: "jobs-search", placeholder: "part of a job name", value: query.get("q") || "" });
  const kind = h("select", { id: "jobs-kind" }, h("option", { value: "" }, "every kind"), ...KINDS.map((k) => h("option", { value: k }, k)));
  const state = h("select", { id: "jobs-status" }, h("option", { value: "" }, "every status"), ...STATUSES.map((k) => h("option", { value: k }, k)));
  kind.value = KINDS.includes(query.get("kind")) ? query.get("kind") : "";
  state.value = STATUSES.includes(query.get("status")) ? query.get("status") : "";
  // Compare: two training runs' loss curves on one plot.
  const pickA = h("select", { id: "compare-a" }), pickB = h("select", { id: "compare-b" });
  const compare = h("button", { type: "submit", id: "compare" }, "Compare loss curves");
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "plot"); svg.id = "compare-plot"; svg.setAttribute("role", "img"); svg.hidden = true;
  const legend = h("div", { class: "legend", id: "compare-legend" });
  main.append(h("h1", {}, "Jobs"), h("p", { class: "muted" }, "Training, transform, AutoML and crawl jobs; refreshed every 2 s."),
    h("form", { id: "jobs-filter", class: "row", role: "search", onsubmit: (e) => e.preventDefault() },
      h("div", { class: "col" }, field("Search by name", search)), h("div", {}, field("Kind", kind)), h("div", {}, field("Status", state))),
    body,
    h("h2", {}, "Compare two training runs"),
    h("form", { id: "compare-form", class: "row" }, h("div", {}, field("Run A", pickA)), h("div", {}, field("Run B", pickB)),
      h("div", {}, h("label", { "aria-hidden": "true" }, "\u00a0"), compare)),
    svg, legend);

  let jobs = [];
  const show = () => {
    const text = search.value.trim().toLowerCase();
    const shown = jobs.filter((j) => (!text || j.name.toLowerCase().includes(text)) && (!kind.value || j.kind === kind.value)
      && (!state.value || j.status === state.value));
    body.dataset.count = String(shown.length);
    body.replaceChildren(shown.length ? table(["Name", "Kind", "Status", "Secondary status", "Created", "Failure"],
      shown.map((j) => [h("a", { href: `#/job/${encodeURIComponent(j.name)}` }, j.name), j.kind, status(j.status),
        j.secondary_status, when(j.creation_time), j.failure_reason || ""]))
      : h("p", {}, jobs.length ? `No job matches (${jobs.length} in all).` : "No jobs yet."));
    const runs = jobs.filter((j) => j.kind === "training").map((j) => j.name);
    for (const [pick, i] of [[pickA, 0], [pickB, 1]]) {
      if (pick.dataset.runs === runs.join()) continue;
      const was = pick.value;
      pick.dataset.runs = runs.join();
      pick.replaceChildren(...runs.map((n) => h("option", { value: n }, n)));
      pick.value = runs.includes(was) ? was : runs[i] || runs[0] || "";
    }
  };
  for (const control of [search, kind, state]) control.addEventListener(control === search ? "input" : "change", show);
  action(compare, async () => {
    if (!pickA.value || !pickB.value || pickA.value === pickB.value) throw new Error("pick two different training runs to compare");
    const shown = {};
    for (const run of [pickA.value, pickB.value]) {
      const { series } = await get(`/studio/api/jobs/${encodeURIComponent(run)}/metrics`);
      for (const k of ["train_loss", "val_loss"]) if (series[k]) shown[`${run} ${k}`] = series[k];
    }
    svg.hidden = false;
    drawPlot(svg, shown, { title: `Loss: ${pickA.value} and ${pickB.value}`, width: 720, height: 280 });
    legend.replaceChildren(...Object.keys(shown).map((k, i) => h("span", {}, h("i", { style: `background:${plotColor(i)}` }), k)));
  });
  ctx.every(2000, async () => { jobs = await get("/studio/api/jobs"); show(); });
}

export async function detail(main, [name], _query, ctx) {
  const head = h("div", { id: "job-head" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "Status timeline" });
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "plot"); svg.id = "metrics-plot"; svg.setAttribute("role", "img");
  const svg2 = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg2.setAttribute("class", "plot"); svg2.id = "perplexity-plot"; svg2.setAttribute("role", "img");
  const legend = h("div", { class: "legend", id: "legend" });
  const legend2 = h("div", { class: "legend", id: "legend-perplexity" });
  const metricsTable = h("div", { id: "metrics-latest" });
  const progress = h("div", { id: "job-progress", "aria-live": "polite" });
  const config = h("div", { id: "job-config" });
  const rerun = h("button", { type: "button", id: "rerun", hidden: true }, "Re-run with the same configuration");
  const clone = h("a", { id: "clone", hidden: true }, "Clone in the fine-tune form");
  const del = h("button", { type: "button", id: "delete" }, "Delete…");
  const log = h("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Job log" });
  const collapsed = h("p", { class: "muted", id: "log-collapsed" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const stop = h("button", { type: "button", id: "stop" }, "Stop");
  const resume = h("button", { type: "button", id: "resume" }, "Resume");
  const artifact = h("div", { id: "artifact" });
  main.append(h("h1", {}, `Job ${name}`), head, h("h2", {}, "Progress"), progress, h("h2", {}, "Status timeline"), timeline,
    h("div", { class: "row" }, stop, resume, rerun, clone, del),
    h("h2", {}, "Configuration"), config,
    h("h2", {}, "Metrics"), h("div", { class: "row" }, h("div", {}, h("h3", {}, "Loss"), svg, legend),
      h("div", {}, h("h3", {}, "Validation perplexity"), svg2, legend2)), metricsTable,
    h("h2", {}, "Log"), h("label", {}, follow, " Follow the log"), collapsed, log,
    h("h2", {}, "Artifact"), artifact);

  let job = null, offset = -1, artifactShown = false, configShown = false, rawLog = "";
  action(stop, async () => {
    const op = STOP[job.kind];
    if (op) await sm(op[0], { [op[1]]: name });
    else await post(`/studio/api/jobs/${encodeURIComponent(name)}/stop`);
  });
  action(resume, async () => { await post(`/studio/api/jobs/${encodeURIComponent(name)}/resume`); offset = -1; });
  action(del, async () => {
    if (["InProgress", "Stopping"].includes(job.status)) throw new Error(`job ${name} is ${job.status}: stop it first, then delete it`);
    if (!confirm(`Delete job ${name}? Its record, metrics, log and checkpoints go; what it wrote to ${job.output} stays.`)) return;
    await request("DELETE", `/studio/api/jobs/${encodeURIComponent(name)}`);
    location_hash("#/jobs");
  });
  action(rerun, async () => {
    const d = await sm("DescribeTrainingJob", { TrainingJobName: name });
    const taken = new Set((await get("/studio/api/jobs")).map((j) => j.name));
    const base = name.replace(/-rerun-\d+$/, "").slice(0, 52);
    let n = 1; while (taken.has(`${base}-rerun-${n}`)) n++;
    const channels = d.InputDataConfig || [];
    if (!channels.some((c) => c.ChannelName === "model")) {
      channels.push({ ChannelName: "model", DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: job.describe.Config.model } } });
    }
    const req = { TrainingJobName: `${base}-rerun-${n}`, AlgorithmSpecification: d.AlgorithmSpecification, RoleArn: d.RoleArn || ROLE,
      HyperParameters: d.HyperParameters || {}, InputDataConfig: channels, OutputDataConfig: d.OutputDataConfig,
      ResourceConfig: { ...d.ResourceConfig, VolumeSizeInGB: Math.max(1, d.ResourceConfig?.VolumeSizeInGB || 0) },
      StoppingCondition: d.StoppingCondition || {} };
    for (const k of ["Environment", "VpcConfig", "CheckpointConfig"]) if (d[k]) req[k] = d[k];
    await sm("CreateTrainingJob", req);
    location_hash(`#/job/${encodeURIComponent(req.TrainingJobName)}`);
  });
  // A hyperparameter given by an alias (epoch) is shown on the row of the name it resolves to
  // (epochs): the model card knows the aliases; a model it does not know keeps the given names.
  let aliases = null;
  const loadAliases = async () => {
    aliases = {};
    const model = job.describe.Config?.model;
    if (job.kind !== "training" || !model) return;
    const card = await get(`/studio/api/models/${encodeURIComponent(model)}`).catch(() => null);
    for (const hp of card?.hyperparameters || []) aliases[hp.name] = hp.canonical;
  };
  const showConfig = () => {
    const c = job.describe.Config || {};
    const given = Object.fromEntries(Object.entries(c.hyperparameters || {}).map(([k, v]) => [aliases[k] || k, v]));
    const resolved = c.resolved_hyperparameters || {};
    const names = [...new Set([...Object.keys(given), ...Object.keys(resolved)])].sort();
    const data = ["model", "train", "validation", "test", "input", "inputs", "records", "content_type", "output", "output_path"]
      .filter((k) => c[k] !== undefined && c[k] !== null && c[k] !== "" && !(Array.isArray(c[k]) && !c[k].length))
      .map((k) => [k, Array.isArray(c[k]) ? c[k].join(", ") : String(c[k])]);
    const shownValue = (v) => (typeof v === "number" ? sig4(v) : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v));
    config.replaceChildren(
      h("h3", {}, "Data"), data.length ? table(["Input", "Location or value"], data) : h("p", {}, "No data inputs recorded."),
      h("h3", {}, "Hyperparameters"), names.length ? table(["Name", "Given", "Used"], names.map((k) =>
        [k, k in given ? String(given[k]) : "", k in resolved ? shownValue(resolved[k]) : ""]))
        : h("p", { id: "job-hyperparameters-none" }, "No hyperparameters (this kind of job has none)."));
    config.querySelectorAll("table")[1]?.setAttribute("id", "job-hyperparameters");
    config.querySelector("table")?.setAttribute("id", "job-data");
    if (job.kind === "training") {
      rerun.hidden = false;
      clone.hidden = false;
      // the fine-tune page fills its form from the job named by `clone` (data, hyperparameters, kind)
      clone.href = `#/finetune/${encodeURIComponent(c.model || "")}?${new URLSearchParams({ clone: name })}`;
    }
  };

  const refresh = async () => {
    job = await get(`/studio/api/jobs/${encodeURIComponent(name)}`);
    head.replaceChildren(table(["Kind", "Status", "Secondary status", "Created", "Ended", "Failure"],
      [[job.kind, status(job.status), job.secondary_status, when(job.creation_time), when(job.end_time), job.failure_reason || ""]]));
    head.dataset.status = job.status;
    timeline.replaceChildren(...job.describe.SecondaryStatusTransitions.map((t) =>
      h("li", { title: t.StatusMessage || "" }, `${t.Status} · ${when(t.StartTime)}`)));
    const running = ["InProgress", "Stopping"].includes(job.status);
    stop.disabled = !running; resume.disabled = running || job.status === "Completed";
    if (aliases === null) await loadAliases();
    if (!configShown || running) { configShown = true; showConfig(); }
    if (job.status === "Completed" && !artifactShown && job.kind === "training") { artifactShown = true; showArtifact(); }
  };
  const showArtifact = async () => {
    const d = await sm("DescribeTrainingJob", { TrainingJobName: name });
    const location = d.ModelArtifacts.S3ModelArtifacts;
    const endpoint = h("input", { type: "text", id: "deploy-name", value: `${name}`.slice(0, 63) });
    const button = h("button", { type: "button", class: "primary", id: "deploy" }, "Deploy");
    artifact.replaceChildren(h("p", {}, "Model artifact: ", h("code", {}, location)), field("Endpoint name", endpoint), button);
    action(button, async () => {
      await deployEndpoint(endpoint.value.trim(), location);
      location_hash(`#/endpoints?select=${encodeURIComponent(endpoint.value.trim())}`);
    });
  };
  const plot = async () => {
    const { series } = await get(`/studio/api/jobs/${encodeURIComponent(name)}/metrics`);
    const pick = (names) => Object.fromEntries(names.filter((k) => series[k]).map((k) => [k, series[k]]));
    for (const [target, key, names, title] of [[svg, legend, LOSSES, "Loss"], [svg2, legend2, PERPLEXITIES, "Validation perplexity"]]) {
      const shown = pick(names);
      drawPlot(target, shown, { title, width: 520, height: 240 });
      key.replaceChildren(...Object.keys(shown).map((k, i) => h("span", {}, h("i", { style: `background:${plotColor(i)}` }), k)));
    }
    const latest = Object.entries(series).map(([k, pts]) => [k, sig4(pts[pts.length - 1].value), String(pts.length)]);
    metricsTable.replaceChildren(latest.length ? table(["Metric", "Latest", "Points"], latest) : "");
    progress.replaceChildren(progressView(job, progressOf(job, series)));
  };
  const tail = async () => {
    if (!follow.checked && offset >= 0) return;
    const chunk = await get(`/studio/api/jobs/${encodeURIComponent(name)}/log?offset=${offset}`);
    if (offset < 0) rawLog = "";
    if (chunk.text || offset < 0) {
      rawLog += chunk.text;
      if (rawLog.length > 2 ** 21) rawLog = rawLog.slice(rawLog.indexOf("\n", rawLog.length - 2 ** 20) + 1);  // the last ~1 MiB
      const shown = collapseLog(rawLog);
      log.textContent = shown.text;
      collapsed.textContent = shown.collapsed ? `${shown.collapsed} progress-bar redraws collapsed (the last drawing of each line is shown).` : "";
      if (follow.checked) log.scrollTop = log.scrollHeight;
    }
    offset = chunk.offset;
  };
  ctx.every(1500, async () => { await refresh(); await plot(); await tail(); });
}

function location_hash(hash) { location.hash = hash; }
