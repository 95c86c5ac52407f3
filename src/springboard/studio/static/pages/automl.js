import { get, sm } from "../api.js";
import { h, table, status, when, field, action, ROLE } from "../ui.js";
import { drawPlot } from "../plot.js";
import { deployEndpoint } from "./endpoints.js";

const CONTENT_TYPES = ["text/csv;header=present", "application/x-parquet"];

export async function render(main, _args, query, ctx) {
  const cfg = await get("/studio/api/config");
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(2, 12);
  const name = h("input", { type: "text", id: "am-name", value: `automl-${stamp}` });
  const model = h("input", { type: "text", id: "am-model", placeholder: "catalog model id (BaseModelName)" });
  const data = h("input", { type: "text", id: "am-data", placeholder: "training data (CSV with input,output columns)" });
  const contentType = h("select", { id: "am-content-type" }, ...CONTENT_TYPES.map((t) => h("option", { value: t }, t)));
  const epochs = h("input", { type: "text", id: "am-epochs", value: "1" });
  const lr = h("input", { type: "text", id: "am-lr", value: "0.0001" });
  const batch = h("input", { type: "text", id: "am-batch", value: "4" });
  const output = h("input", { type: "text", id: "am-output", value: `${cfg.home}/studio/automl` });
  const pasted = h("textarea", { id: "am-json", rows: 6, placeholder: '{"AutoMLJobName": "...", "AutoMLJobInputDataConfig": [...], ...}' });
  const create = h("button", { type: "submit", class: "primary", id: "am-create" }, "Create AutoML job");
  const jobsBox = h("div", { id: "am-jobs" });
  const board = h("div", { id: "am-board", "aria-live": "polite" });
  main.append(h("h1", {}, "AutoML (text generation)"),
    h("form", { id: "am-form" }, field("Job name", name), field("Base model", model), field("Training data", data),
      field("Content type", contentType),
      h("div", { class: "row" }, field("Epochs (epochCount)", epochs), field("Learning rate", lr), field("Batch size", batch)),
      field("Output path", output),
      field("…or paste a whole CreateAutoMLJobV2 request (JSON; used instead of the fields above)", pasted), create),
    h("h2", {}, "AutoML jobs"), jobsBox, board);

  let selected = query.get("job");
  const showJob = async (jobName) => {
    const d = await sm("DescribeAutoMLJobV2", { AutoMLJobName: jobName });
    const best = d.BestCandidate;
    const { Candidates } = await sm("ListCandidatesForAutoMLJob", { AutoMLJobName: jobName, SortBy: "FinalObjectiveMetricValue" });
    const rows = [];
    for (const c of Candidates) {
      const isBest = best && c.CandidateName === best.CandidateName;
      const m = c.FinalAutoMLJobObjectiveMetric;
      const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
      svg.setAttribute("class", "plot"); svg.setAttribute("role", "img");
      try {
        const { series } = await get(`/studio/api/jobs/${encodeURIComponent(c.CandidateName)}/metrics`);
        drawPlot(svg, Object.fromEntries(["train_loss", "val_loss"].filter((k) => series[k]).map((k) => [k, series[k]])),
          { width: 260, height: 110, title: `${c.CandidateName} loss` });
      } catch { /* a candidate not started yet has no job */ }
      rows.push([h("span", { class: isBest ? "best" : "" }, isBest ? "★ best " : "", h("a", { href: `#/job/${encodeURIComponent(c.CandidateName)}` }, c.CandidateName)),
        status(c.CandidateStatus), m ? m.MetricName : "", m ? String(m.Value) : "", svg]);
    }
    const endpoint = h("input", { type: "text", id: "am-endpoint", value: jobName.slice(0, 50) });
    const deployBest = h("button", { type: "button", class: "primary", id: "am-deploy" }, "Deploy the best candidate");
    action(deployBest, async () => {
      const n = endpoint.value.trim();
      await deployEndpoint(n, null, false, best.InferenceContainers);
      location.hash = `#/endpoints?select=${encodeURIComponent(n)}`;
    });
    board.replaceChildren(h("h3", {}, `Leaderboard: ${jobName}`),
      h("p", {}, status(d.AutoMLJobStatus), ` ${d.AutoMLJobSecondaryStatus || ""} `, d.FailureReason || ""),
      rows.length ? table(["Candidate", "Status", "Objective", "Value", "Loss"], rows) : h("p", {}, "No candidates yet."),
      best ? h("div", {}, field("Endpoint name", endpoint), deployBest) : "");
    board.dataset.status = d.AutoMLJobStatus;
  };

  ctx.every(2500, async () => {
    const jobs = (await sm("ListAutoMLJobs", { MaxResults: 100 })).AutoMLJobSummaries || [];
    jobsBox.replaceChildren(jobs.length ? table(["Name", "Status", "Secondary status", "Created", ""], jobs.map((j) => {
      const b = h("button", { type: "button", "aria-label": `Show ${j.AutoMLJobName}` }, "Show");
      b.addEventListener("click", () => { selected = j.AutoMLJobName; showJob(selected); });
      return [j.AutoMLJobName, status(j.AutoMLJobStatus), j.AutoMLJobSecondaryStatus, when(j.CreationTime), b];
    })) : h("p", {}, "No AutoML jobs yet."));
    if (selected && board.dataset.status !== "Completed") await showJob(selected);
  });

  action(create, async () => {
    let request;
    if (pasted.value.trim()) {
      try { request = JSON.parse(pasted.value); } catch (err) { throw new Error(`the pasted request is not JSON: ${err.message}`); }
    } else {
      request = {
        AutoMLJobName: name.value.trim(), RoleArn: ROLE,
        AutoMLJobInputDataConfig: [{ ChannelType: "training", ContentType: contentType.value,
          DataSource: { S3DataSource: { S3DataType: "S3Prefix", S3Uri: data.value.trim() } } }],
        AutoMLProblemTypeConfig: { TextGenerationJobConfig: { BaseModelName: model.value.trim(),
          TextGenerationHyperParameters: { epochCount: epochs.value.trim(), learningRate: lr.value.trim(), batchSize: batch.value.trim() } } },
        OutputDataConfig: { S3OutputPath: output.value.trim() },
      };
    }
    await sm("CreateAutoMLJobV2", request);
    selected = request.AutoMLJobName; board.dataset.status = "";
    await showJob(selected);
  });
}
