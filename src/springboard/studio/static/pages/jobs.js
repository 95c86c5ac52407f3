import { get, post, sm } from "../api.js";
import { h, table, status, when, showError, action, ROLE, field } from "../ui.js";
import { drawPlot, plotColor } from "../plot.js";

const STOP = { training: ["StopTrainingJob", "TrainingJobName"], transform: ["StopTransformJob", "TransformJobName"],
  automl: ["StopAutoMLJob", "AutoMLJobName"] };
const LOSSES = ["train_loss", "val_loss", "test_loss"];
const PERPLEXITIES = ["perplexity", "test_perplexity"];

export async function list(main, _args, _query, ctx) {
  const body = h("div", { id: "jobs-table" });
  main.append(h("h1", {}, "Jobs"), h("p", { class: "muted" }, "Training, transform, AutoML and crawl jobs; refreshed every 2 s."), body);
  ctx.every(2000, async () => {
    const jobs = await get("/studio/api/jobs");
    body.replaceChildren(jobs.length ? table(["Name", "Kind", "Status", "Secondary status", "Created", "Failure"],
      jobs.map((j) => [h("a", { href: `#/job/${encodeURIComponent(j.name)}` }, j.name), j.kind, status(j.status),
        j.secondary_status, when(j.creation_time), j.failure_reason || ""])) : h("p", {}, "No jobs yet."));
  });
}

// Deploys a model (catalog id or artifact location) as an endpoint, the way the SageMaker SDK does.
export async function deploy(endpointName, location, acceptEula = false) {
  const modelName = `${endpointName}-model`.slice(0, 63);
  const container = { Image: "springboard-inference", ModelDataUrl: location };
  if (acceptEula) container.Environment = { accept_eula: "true" };
  await sm("CreateModel", { ModelName: modelName, ExecutionRoleArn: ROLE, PrimaryContainer: container });
  await sm("CreateEndpointConfig", { EndpointConfigName: endpointName, ProductionVariants: [
    { VariantName: "AllTraffic", ModelName: modelName, InitialInstanceCount: 1, InstanceType: "ml.m5.large" }] });
  await sm("CreateEndpoint", { EndpointName: endpointName, EndpointConfigName: endpointName });
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
  const log = h("pre", { class: "log", id: "log", tabindex: "0", "aria-label": "Job log" });
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const stop = h("button", { type: "button", id: "stop" }, "Stop");
  const resume = h("button", { type: "button", id: "resume" }, "Resume");
  const artifact = h("div", { id: "artifact" });
  main.append(h("h1", {}, `Job ${name}`), head, h("h2", {}, "Status timeline"), timeline,
    h("div", { class: "row" }, stop, resume),
    h("h2", {}, "Metrics"), h("div", { class: "row" }, h("div", {}, h("h3", {}, "Loss"), svg, legend),
      h("div", {}, h("h3", {}, "Validation perplexity"), svg2, legend2)), metricsTable,
    h("h2", {}, "Log"), h("label", {}, follow, " Follow the log"), log,
    h("h2", {}, "Artifact"), artifact);

  let job = null, offset = -1, artifactShown = false;
  action(stop, async () => {
    const op = STOP[job.kind];
    if (op) await sm(op[0], { [op[1]]: name });
    else await post(`/studio/api/jobs/${encodeURIComponent(name)}/stop`);
  });
  action(resume, async () => { await post(`/studio/api/jobs/${encodeURIComponent(name)}/resume`); offset = -1; });

  const refresh = async () => {
    job = await get(`/studio/api/jobs/${encodeURIComponent(name)}`);
    head.replaceChildren(table(["Kind", "Status", "Secondary status", "Created", "Ended", "Failure"],
      [[job.kind, status(job.status), job.secondary_status, when(job.creation_time), when(job.end_time), job.failure_reason || ""]]));
    head.dataset.status = job.status;
    timeline.replaceChildren(...job.describe.SecondaryStatusTransitions.map((t) =>
      h("li", { title: t.StatusMessage || "" }, `${t.Status} · ${when(t.StartTime)}`)));
    const running = ["InProgress", "Stopping"].includes(job.status);
    stop.disabled = !running; resume.disabled = running || job.status === "Completed";
    if (job.status === "Completed" && !artifactShown && job.kind === "training") { artifactShown = true; showArtifact(); }
  };
  const showArtifact = async () => {
    const d = await sm("DescribeTrainingJob", { TrainingJobName: name });
    const location = d.ModelArtifacts.S3ModelArtifacts;
    const endpoint = h("input", { type: "text", id: "deploy-name", value: `${name}`.slice(0, 63) });
    const button = h("button", { type: "button", class: "primary", id: "deploy" }, "Deploy");
    artifact.replaceChildren(h("p", {}, "Model artifact: ", h("code", {}, location)), field("Endpoint name", endpoint), button);
    action(button, async () => {
      await deploy(endpoint.value.trim(), location);
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
    const latest = Object.entries(series).map(([k, pts]) => [k, String(pts[pts.length - 1].value), String(pts.length)]);
    metricsTable.replaceChildren(latest.length ? table(["Metric", "Latest", "Points"], latest) : "");
  };
  const tail = async () => {
    if (!follow.checked && offset >= 0) return;
    const chunk = await get(`/studio/api/jobs/${encodeURIComponent(name)}/log?offset=${offset}`);
    if (offset < 0) log.textContent = "";
    if (chunk.text) { log.textContent += chunk.text; if (follow.checked) log.scrollTop = log.scrollHeight; }
    offset = chunk.offset;
  };
  ctx.every(1500, async () => { await refresh(); await plot(); await tail(); });
}

function location_hash(hash) { location.hash = hash; }
