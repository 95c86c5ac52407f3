import { get, post, sm, streamEvents } from "../api.js";
import { h, table, status, when, field, action, confirmDialog, ROLE } from "../ui.js";

const SHAPES = {
  "text-generation": "Text generation (inputs + parameters)",
  "text2text": "JumpStart text2text (text_inputs)",
  "chat": "Chat (OpenAI messages)",
};

// --- asking an endpoint ------------------------------------------------------------------------

// One request to one endpoint. `messages` (OpenAI chat messages) go to the chat route; `prompt`
// to the payload `shape`. onText gets each piece of the answer as it arrives. Returns how the
// answer ended: { finish: "eos_token" | "stop_sequence" | "length" | "stop" | null, tokens }.
export async function ask(endpoint, shape, { prompt, messages, maxTokens, temperature = 0, topP = 1, stop = [], stream }, onText) {
  const e = encodeURIComponent(endpoint);
  if (shape === "chat") {
    const body = { model: endpoint, messages, max_tokens: maxTokens, temperature };
    if (temperature > 0 && topP < 1) body.top_p = topP;
    if (stop.length) body.stop = stop;
    if (stream) {
      const ended = { finish: null, tokens: null };
      await streamEvents(`/endpoints/${e}/v1/chat/completions`, { ...body, stream: true, stream_options: { include_usage: true } }, (d) => {
        const choice = d.choices && d.choices[0];
        if (choice && choice.delta && choice.delta.content) onText(choice.delta.content);
        if (choice && choice.finish_reason) ended.finish = choice.finish_reason;
        if (d.usage) ended.tokens = d.usage.completion_tokens;
      });
      return ended;
    }
    const r = await post(`/endpoints/${e}/v1/chat/completions`, body);
    onText(r.choices[0].message.content || "");
    return { finish: r.choices[0].finish_reason, tokens: r.usage ? r.usage.completion_tokens : null };
  }
  // temperature 0: greedy (deterministic); above 0: sampling at that temperature (and top_p)
  const sampling = temperature > 0 ? { do_sample: true, temperature, ...(topP < 1 ? { top_p: topP } : {}) } : {};
  const stops = stop.length ? { stop } : {};
  if (stream) {
    const ended = { finish: null, tokens: null };
    await streamEvents(`/endpoints/${e}/generate_stream`, { inputs: prompt, parameters: { max_new_tokens: maxTokens, ...sampling, ...stops } },
      (d) => {
        if (d.token && !d.token.special) onText(d.token.text);
        if (d.details) { ended.finish = d.details.finish_reason; ended.tokens = d.details.generated_tokens; }
      });
    return ended;
  }
  if (shape === "text2text") {
    const r = await post(`/endpoints/${e}/invocations`, { text_inputs: prompt, max_length: maxTokens + 1, ...sampling, ...stops });
    onText(r.generated_texts[0]);
    return { finish: null, tokens: null };  // this payload's answer does not say how it ended
  }
  const r = await post(`/endpoints/${e}/invocations`, { inputs: prompt, parameters: { max_new_tokens: maxTokens, details: true, ...sampling, ...stops } });
  const first = Array.isArray(r) ? r[0] : r;
  onText(first.generated_text ?? JSON.stringify(r));
  return first.details ? { finish: first.details.finish_reason, tokens: first.details.generated_tokens } : { finish: null, tokens: null };
}

// Why an answer has no text, in words (null when it has text).
export function whyEmpty(text, ended, shape) {
  if (text.trim()) return null;
  const next = shape === "chat"
    ? " Try another message or a system prompt, or sample (temperature above 0)."
    : " Try the Chat payload (it always uses the model's chat template; plain text takes the endpoint's prompt format), a different prompt, or sampling (temperature above 0).";
  const { finish, tokens } = ended || {};
  if (finish === "eos_token" || (finish === "stop" && !tokens) || (finish === "stop" && tokens <= 1))
    return "The model ended its answer at once: the first token it chose ends the answer (end of sequence" +
      (finish === "stop" ? ", or a stop sequence" : "") + "), so there is no text." + next;
  if (finish === "stop_sequence" || finish === "stop")
    return "The answer ended at a stop sequence before any text (stop sequences are never shown)." + next;
  if (finish === "length")
    return `The model used all ${tokens ?? ""} tokens without any visible text (only spaces or special tokens).` + next;
  return "The model returned no text (this payload does not say how the answer ended: stream it to see)." + next;
}

// --- deploying and deleting -------------------------------------------------------------------

const NAME = /^[a-zA-Z0-9](-*[a-zA-Z0-9])*$/;
// Studio's own Model and EndpointConfig for an endpoint carry this prefix, so Delete knows
// which ones it made (and the name is free again once the endpoint is gone).
const ownPrefix = (endpoint) => `${endpoint.slice(0, 40)}-studio-`;

async function existing(endpointName) {
  try { return await sm("DescribeEndpoint", { EndpointName: endpointName }); } catch (err) {
    if (err.status === 400 || err.status === 404) return null;  // ValidationException: not found
    throw err;
  }
}

function taken(endpointName, found) {
  return new Error(`The endpoint name "${endpointName}" is taken: an endpoint with that name already exists ` +
    `(status ${found.EndpointStatus}). Choose another name, or delete that endpoint first.`);
}

// Deploys a model as an endpoint, the way the SageMaker SDK does (CreateModel, CreateEndpointConfig,
// CreateEndpoint): `location` is a catalog id or artifact location, or `containers` the model's own
// container list (an AutoML candidate's InferenceContainers). The one deploy every page uses: a
// taken name is said in words and a refused deploy leaves nothing behind.
export async function deployEndpoint(endpointName, location, acceptEula = false, containers = null) {
  if (!endpointName) throw new Error("give the endpoint a name");
  if (endpointName.length > 63 || !NAME.test(endpointName))
    throw new Error(`the endpoint name "${endpointName}" is not allowed: use 1 to 63 letters, digits and hyphens, ` +
      "starting and ending with a letter or digit");
  const found = await existing(endpointName);
  if (found) throw taken(endpointName, found);
  const own = `${ownPrefix(endpointName)}${Date.now().toString(36)}`;
  const container = { Image: "springboard-inference", ModelDataUrl: location };
  if (acceptEula) container.Environment = { accept_eula: "true" };
  await sm("CreateModel", containers ? { ModelName: own, ExecutionRoleArn: ROLE, Containers: containers }
    : { ModelName: own, ExecutionRoleArn: ROLE, PrimaryContainer: container });
  try {
    await sm("CreateEndpointConfig", { EndpointConfigName: own, ProductionVariants: [
      { VariantName: "AllTraffic", ModelName: own, InitialInstanceCount: 1, InstanceType: "ml.m5.large" }] });
    await sm("CreateEndpoint", { EndpointName: endpointName, EndpointConfigName: own });
  } catch (err) {
    await sm("DeleteEndpointConfig", { EndpointConfigName: own }).catch(() => null);
    await sm("DeleteModel", { ModelName: own }).catch(() => null);
    const raced = /already existing endpoint/.test(err.message) ? await existing(endpointName) : null;
    throw raced ? taken(endpointName, raced) : err;
  }
}

// Deletes the endpoint, and the EndpointConfig and Model Studio made for it (by its prefix, or
// the older `<endpoint>` / `<endpoint>-model` names); others made by boto3 or the SDK stay.
export async function deleteEndpoint(endpointName) {
  const found = await existing(endpointName);
  let config = null;
  if (found && found.EndpointConfigName) config = await sm("DescribeEndpointConfig", { EndpointConfigName: found.EndpointConfigName }).catch(() => null);
  await sm("DeleteEndpoint", { EndpointName: endpointName });
  if (!config) return;
  const mine = (n) => n.startsWith(ownPrefix(endpointName)) || n === endpointName || n === `${endpointName}-model`.slice(0, 63);
  if (mine(config.EndpointConfigName)) await sm("DeleteEndpointConfig", { EndpointConfigName: config.EndpointConfigName }).catch(() => null);
  const model = config.ProductionVariants[0].ModelName;
  if (model && mine(model)) await sm("DeleteModel", { ModelName: model }).catch(() => null);
}

async function confirmDelete(endpointName) {
  return confirmDialog(`Delete endpoint ${endpointName}?`,
    `The endpoint "${endpointName}" stops serving: requests in flight fail, and its model is unloaded. ` +
    "The model artifact itself stays where it is.", "Delete endpoint");
}

// --- the list, deploy form and playground -------------------------------------------------------

const endpointLink = (name) => h("a", { href: `#/endpoint/${encodeURIComponent(name)}` }, name);

export async function render(main, _args, query, ctx) {
  const listBox = h("div", { id: "endpoint-list" });
  const model = h("input", { type: "text", id: "deploy-model", value: query.get("model") || "",
    placeholder: "catalog model id, training job name, or artifact path" });
  const name = h("input", { type: "text", id: "deploy-endpoint", value: (query.get("model") || "").replace(/[^a-zA-Z0-9-]/g, "-").slice(0, 50) });
  const eula = h("input", { type: "checkbox", id: "deploy-eula" });
  const deployButton = h("button", { type: "submit", class: "primary", id: "deploy-button" }, "Deploy");
  const selects = [0, 1, 2].map((i) => h("select", { id: ["play-endpoint", "side-a", "side-b"][i] }));
  const shape = h("select", { id: "play-shape" }, ...Object.entries(SHAPES).map(([k, v]) => h("option", { value: k }, v)));
  const maxTokens = h("input", { type: "number", id: "play-max", value: "16", min: "1" });
  const temperature = h("input", { type: "number", id: "play-temperature", value: "0", min: "0", max: "2", step: "0.1" });
  const topP = h("input", { type: "number", id: "play-top-p", value: "1", min: "0.01", max: "1", step: "0.05" });
  const stopBox = h("textarea", { id: "play-stop", rows: 2 });
  const stream = h("input", { type: "checkbox", id: "play-stream", checked: true });
  const system = h("textarea", { id: "play-system", rows: 2 });
  const systemField = field("System prompt (chat)", system, "Sent first, as the system message, with every turn.");
  const prompt = h("textarea", { id: "play-prompt", rows: 3 }, "");
  const promptLabel = h("label", { for: "play-prompt" }, "Prompt");
  const history = h("ol", { id: "play-history", class: "history", "aria-label": "Conversation so far" });
  const historyBox = h("div", { id: "play-conversation" }, h("h3", {}, "Conversation"), history);
  const answer = h("div", { class: "answer", id: "play-answer", "aria-live": "polite" });
  const answerInfo = h("p", { class: "muted", id: "play-info", "aria-live": "polite" });
  const send = h("button", { type: "submit", class: "primary", id: "play-send" }, "Send");
  const clear = h("button", { type: "button", id: "play-clear" }, "Clear conversation");
  const sidePrompt = h("textarea", { id: "side-prompt", rows: 3 });
  const answers = ["a", "b"].map((x) => h("div", { class: "answer", id: `side-answer-${x}`, "aria-live": "polite" }));
  const sideInfo = ["a", "b"].map((x) => h("p", { class: "muted", id: `side-info-${x}` }));
  const sideTitles = ["a", "b"].map((x) => h("h3", { id: `side-title-${x}` }));
  const compare = h("button", { type: "submit", class: "primary", id: "side-send" }, "Compare");

  main.append(h("h1", {}, "Endpoints"), listBox,
    h("h2", {}, "Deploy"), h("form", { id: "deploy-form" }, field("Model", model), field("Endpoint name", name),
      h("label", {}, eula, " Accept the model's EULA (if it has one)"), deployButton),
    h("h2", {}, "Playground"), h("form", { id: "play-form" }, field("Endpoint", selects[0]), field("Payload", shape),
      h("div", { class: "row" },
        h("div", { class: "col" }, field("Max new tokens", maxTokens)),
        h("div", { class: "col" }, field("Temperature (0: greedy)", temperature)),
        h("div", { class: "col" }, field("Top p (when sampling)", topP))),
      field("Stop sequences (one per line)", stopBox), h("label", {}, stream, " Stream the answer"), systemField,
      historyBox, h("div", {}, promptLabel, prompt), h("div", { class: "row" }, send, clear)),
    h("h3", {}, "Answer"), answer, answerInfo,
    h("h2", {}, "Side by side"), h("form", { id: "side-form" },
      h("div", { class: "row" }, h("div", { class: "col" }, field("Left endpoint", selects[1])), h("div", { class: "col" }, field("Right endpoint", selects[2]))),
      field("Prompt (sent to both, with the payload, system prompt and settings above)", sidePrompt), compare),
    h("div", { class: "row" }, ...[0, 1].map((i) => h("section", { class: "col", "aria-labelledby": `side-title-${"ab"[i]}` }, sideTitles[i], answers[i], sideInfo[i]))));

  // chat keeps the turns; the other payloads send one prompt
  let turns = [];
  const showTurns = () => history.replaceChildren(...turns.map((m) =>
    h("li", { class: `turn ${m.role}` }, h("strong", {}, m.role === "user" ? "You" : "Model"), " ", m.content || h("em", {}, "(no text)"))));
  const chat = () => shape.value === "chat";
  const onShape = () => {
    systemField.hidden = !chat(); historyBox.hidden = !chat(); clear.hidden = !chat();
    promptLabel.textContent = chat() ? "Message" : "Prompt";
  };
  shape.addEventListener("change", onShape);
  onShape();
  const titles = () => sideTitles.forEach((t, i) => {
    const n = selects[i + 1].value;
    t.textContent = n || (i ? "Right" : "Left");
    answers[i].setAttribute("aria-label", `Answer from ${n || "no endpoint"}`);
  });
  selects.slice(1).forEach((s) => s.addEventListener("change", titles));
  titles();

  const settings = () => ({
    maxTokens: Number(maxTokens.value), temperature: Number(temperature.value), topP: Number(topP.value),
    stop: stopBox.value.split("\n").filter((s) => s.length), stream: stream.checked,
  });
  const systemMessages = () => (system.value.trim() ? [{ role: "system", content: system.value }] : []);

  let known = "";
  const reasons = new Map();  // "name@created" -> FailureReason (a Failed endpoint's never changes)
  const select = query.get("select");
  ctx.every(2000, async () => {
    const { Endpoints } = await sm("ListEndpoints", { MaxResults: 100 });
    for (const e of Endpoints.filter((x) => x.EndpointStatus === "Failed")) {
      const k = `${e.EndpointName}@${e.CreationTime}`;
      if (!reasons.has(k)) reasons.set(k, (await existing(e.EndpointName) || {}).FailureReason || "");
    }
    listBox.replaceChildren(Endpoints.length ? table(["Endpoint", "Status", "Failure reason", "Created", ""], Endpoints.map((e) => {
      const del = h("button", { type: "button", "aria-label": `Delete ${e.EndpointName}` }, "Delete");
      action(del, async () => { if (await confirmDelete(e.EndpointName)) await deleteEndpoint(e.EndpointName); });
      const reason = reasons.get(`${e.EndpointName}@${e.CreationTime}`);
      return [endpointLink(e.EndpointName), status(e.EndpointStatus), reason ? h("span", { class: "msg-bad failure" }, reason) : "",
        when(e.CreationTime), del];
    })) : h("p", {}, "No endpoints yet."));
    const names = Endpoints.filter((e) => e.EndpointStatus === "InService").map((e) => e.EndpointName).sort();
    if (names.join() !== known) {
      known = names.join();
      selects.forEach((s, i) => {
        const before = s.value;
        s.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
        if (names.includes(before)) s.value = before;
        else if (select && names.includes(select) && i !== 1) s.value = select;
        else if (i === 2 && names.length > 1) s.value = names[1];
      });
      titles();
    }
  });

  action(deployButton, async () => {
    if (!model.value.trim()) throw new Error("give a model: a catalog model id, training job name or artifact path");
    await deployEndpoint(name.value.trim(), model.value.trim(), eula.checked);
  });
  action(send, async () => {
    if (!selects[0].value) throw new Error("no endpoint in service to send to");
    answer.textContent = ""; answer.dataset.done = ""; answerInfo.textContent = "";
    const text = prompt.value;
    const s = settings();
    let reply = "";
    const onText = (t) => { reply += t; answer.textContent += t; };
    if (chat()) {
      if (!text.trim()) throw new Error("write a message first");
      // the previous answer joins the conversation above; this message goes with all turns so far
      turns.push({ role: "user", content: text });
      showTurns();
      prompt.value = "";
      let ended;
      try {
        ended = await ask(selects[0].value, "chat", { ...s, messages: [...systemMessages(), ...turns] }, onText);
      } catch (err) {
        turns.pop(); showTurns(); prompt.value = text;  // not answered: the message is the user's again
        throw err;
      }
      turns.push({ role: "assistant", content: reply });
      finish(answer, answerInfo, reply, ended, "chat");
      return;
    }
    const ended = await ask(selects[0].value, shape.value, { ...s, prompt: text }, onText);
    finish(answer, answerInfo, reply, ended, shape.value);
  });
  action(clear, async () => {
    turns = []; showTurns();
    answer.textContent = ""; answer.dataset.done = ""; answerInfo.textContent = "";
  });
  action(compare, async () => {
    if (!selects[1].value || !selects[2].value) throw new Error("choose two endpoints");
    answers.forEach((a, i) => { a.textContent = ""; a.dataset.done = ""; sideInfo[i].textContent = ""; });
    const s = settings();
    const body = chat() ? { ...s, messages: [...systemMessages(), { role: "user", content: sidePrompt.value }] } : { ...s, prompt: sidePrompt.value };
    await Promise.all([0, 1].map(async (i) => {
      let reply = "";
      const ended = await ask(selects[i + 1].value, shape.value, body, (t) => { reply += t; answers[i].textContent += t; });
      finish(answers[i], sideInfo[i], reply, ended, shape.value);
    }));
  });
}

// An answer is complete: its box is marked done and the line under it says how it ended.
function finish(box, info, text, ended, shape) {
  box.dataset.done = "1";
  const empty = whyEmpty(text, ended, shape);
  box.dataset.empty = empty ? "1" : "";
  const tokens = ended && ended.tokens != null ? `, ${ended.tokens} tokens` : "";
  const how = ended && ended.finish ? `, ended by ${ended.finish}` : "";
  info.textContent = empty || `done: ${text.length} characters${tokens}${how}`;
  info.className = empty ? "msg-bad" : "muted";
}

// --- one endpoint -------------------------------------------------------------------------------

export async function detail(main, [name], _query, ctx) {
  const head = h("div", { id: "ep-head" });
  const facts = h("div", { id: "ep-facts" });
  const failure = h("div", { id: "ep-failure", role: "note" });
  const stats = h("div", { id: "ep-stats" });
  const del = h("button", { type: "button", id: "ep-delete" }, "Delete endpoint");
  main.append(h("p", {}, h("a", { href: "#/endpoints" }, "← All endpoints")), h("h1", {}, `Endpoint ${name}`), head, failure,
    h("div", { class: "row" }, h("a", { href: `#/endpoints?select=${encodeURIComponent(name)}`, id: "ep-playground" }, "Open in the playground"), del),
    h("h2", {}, "Model"), facts, h("h2", {}, "Recent requests"), stats);
  action(del, async () => {
    if (!(await confirmDelete(name))) return;
    await deleteEndpoint(name);
    location.hash = "#/endpoints";
  });
  ctx.every(2000, async () => {
    const described = await sm("DescribeEndpoint", { EndpointName: name });
    const record = await get(`/springboard/endpoints/${encodeURIComponent(name)}`);
    if (!ctx.live()) return;
    head.dataset.status = described.EndpointStatus;
    head.replaceChildren(h("p", {}, "Status: ", status(described.EndpointStatus), "  created ", when(described.CreationTime),
      described.LastModifiedTime ? `, last changed ${when(described.LastModifiedTime)}` : ""));
    failure.replaceChildren(...(described.FailureReason
      ? [h("h2", {}, described.EndpointStatus === "Failed" ? "Why it failed" : "Last failure"), h("p", { class: "msg-bad failure" }, described.FailureReason)] : []));
    // show whatever the describe data has: the precision/backend fields are newer than the rest
    // precision: "<backend>:<weights>[-shipped] - <why>" (generate/precision.py's label and reason)
    const cut = (record.precision || "").indexOf(" - ");
    const engine = cut < 0 ? record.precision : record.precision.slice(0, cut);
    const reason = cut < 0 ? "" : record.precision.slice(cut + 3);
    const [backend, tag] = engine ? engine.split(":") : [];
    const weights = tag && tag.endsWith("-shipped") ? `${tag.slice(0, -8)}, the model's own GGUF` : tag;
    const rows = [
      ["Model", record.model], ["Catalog model", record.model_id], ["Artifact (loaded copy)", record.model_dir],
      ["Backend", backend], ["Precision", weights ? `${weights}${reason ? ` (${reason})` : ""}` : record.dtype],
      ["Quantization", record.quantize], ["Device", record.device || (record.model_dir ? "cpu" : null)],
      ["Endpoint config", described.EndpointConfigName],
      ["Adapters", record.adapters && Object.keys(record.adapters).length ? Object.entries(record.adapters).map(([k, v]) => `${k}: ${v}`).join(", ") : null],
      ["Batching", record.batching === undefined ? null : record.batching ? `up to ${record.max_batch_size} per batch, waiting ${record.max_wait_ms} ms` : "off"],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    facts.replaceChildren(h("table", { class: "facts" }, h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, String(v)))))));
    const recent = record.recent_requests;
    if (!recent) {
      stats.replaceChildren(h("p", { class: "muted" }, "Not served by this server now: no requests recorded."));
    } else if (!recent.requests) {
      stats.replaceChildren(h("p", { class: "muted" }, "No requests answered yet (counted since the server started)."));
    } else {
      stats.replaceChildren(
        h("p", { id: "ep-summary" }, `${recent.requests} requests answered since the server started; over the last ${recent.recent.length}: `,
          `median latency ${recent.median_latency_ms} ms, ${recent.tokens_per_second ?? "–"} tokens/s`),
        table(["Ended", "Latency", "Tokens", "Tokens/s", "Streamed"], recent.recent.slice().reverse().map((r) =>
          [when(r.at), `${Math.round(r.seconds * 1000)} ms`, r.tokens, r.seconds > 0 ? (r.tokens / r.seconds).toFixed(1) : "–", r.streamed ? "yes" : "no"])));
    }
  });
}
