import { get, post, sm, streamEvents } from "../api.js";
import { h, table, status, when, field, action, showError } from "../ui.js";
import { deploy } from "./jobs.js";

const SHAPES = {
  "text-generation": "Text generation (inputs + parameters)",
  "text2text": "JumpStart text2text (text_inputs)",
  "chat": "Chat (OpenAI messages)",
};

// One prompt to one endpoint; onText gets each piece of the answer as it arrives.
export async function ask(endpoint, shape, prompt, maxNewTokens, stream, onText, temperature = 0) {
  const e = encodeURIComponent(endpoint);
  // temperature 0: greedy (deterministic); above 0: sampling at that temperature
  const sampling = temperature > 0 ? { do_sample: true, temperature } : {};
  if (shape === "chat") {
    const body = { model: endpoint, messages: [{ role: "user", content: prompt }], max_tokens: maxNewTokens, temperature };
    if (stream) return streamEvents(`/endpoints/${e}/v1/chat/completions`, { ...body, stream: true },
      (d) => { const piece = d.choices && d.choices[0] && d.choices[0].delta && d.choices[0].delta.content; if (piece) onText(piece); });
    const r = await post(`/endpoints/${e}/v1/chat/completions`, body);
    return onText(r.choices[0].message.content);
  }
  if (stream) return streamEvents(`/endpoints/${e}/generate_stream`, { inputs: prompt, parameters: { max_new_tokens: maxNewTokens, ...sampling } },
    (d) => { if (d.token && !d.token.special) onText(d.token.text); });
  const body = shape === "text2text" ? { text_inputs: prompt, max_length: maxNewTokens + 1, ...sampling }
    : { inputs: prompt, parameters: { max_new_tokens: maxNewTokens, ...sampling } };
  const r = await post(`/endpoints/${e}/invocations`, body);
  const text = Array.isArray(r) ? r[0].generated_text : r.generated_texts ? r.generated_texts[0] : r.generated_text ?? JSON.stringify(r);
  onText(text);
}

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
  const temperature = h("input", { type: "number", id: "play-temperature", value: "0", min: "0", step: "0.1" });
  const stream = h("input", { type: "checkbox", id: "play-stream", checked: true });
  const prompt = h("textarea", { id: "play-prompt", rows: 3 }, "");
  const answer = h("div", { class: "answer", id: "play-answer", "aria-live": "polite" });
  const answerInfo = h("p", { class: "muted", id: "play-info" });
  const send = h("button", { type: "submit", class: "primary", id: "play-send" }, "Send");
  const sidePrompt = h("textarea", { id: "side-prompt", rows: 3 });
  const answers = [h("div", { class: "answer", id: "side-answer-a", "aria-live": "polite" }), h("div", { class: "answer", id: "side-answer-b", "aria-live": "polite" })];
  const compare = h("button", { type: "submit", class: "primary", id: "side-send" }, "Compare");

  main.append(h("h1", {}, "Endpoints"), listBox,
    h("h2", {}, "Deploy"), h("form", { id: "deploy-form" }, field("Model", model), field("Endpoint name", name),
      h("label", {}, eula, " Accept the model's EULA (if it has one)"), deployButton),
    h("h2", {}, "Playground"), h("form", { id: "play-form" }, field("Endpoint", selects[0]), field("Payload", shape),
      field("Max new tokens", maxTokens), field("Temperature (0: greedy)", temperature), h("label", {}, stream, " Stream the answer"), field("Prompt", prompt), send),
    h("h3", {}, "Answer"), answer, answerInfo,
    h("h2", {}, "Side by side"), h("form", { id: "side-form" },
      h("div", { class: "row" }, h("div", { class: "col" }, field("Left endpoint", selects[1])), h("div", { class: "col" }, field("Right endpoint", selects[2]))),
      field("Prompt (sent to both, with the payload and stream settings above)", sidePrompt), compare),
    h("div", { class: "row" }, h("div", { class: "col" }, h("h3", {}, "Left"), answers[0]), h("div", { class: "col" }, h("h3", {}, "Right"), answers[1])));

  let known = "";
  const select = query.get("select");
  ctx.every(2000, async () => {
    const { Endpoints } = await sm("ListEndpoints", { MaxResults: 100 });
    listBox.replaceChildren(Endpoints.length ? table(["Endpoint", "Status", "Created", ""], Endpoints.map((e) => {
      const del = h("button", { type: "button", "aria-label": `Delete ${e.EndpointName}` }, "Delete");
      action(del, async () => {
        await sm("DeleteEndpoint", { EndpointName: e.EndpointName });
        await sm("DeleteEndpointConfig", { EndpointConfigName: e.EndpointName }).catch(() => null);
      });
      return [e.EndpointName, status(e.EndpointStatus), when(e.CreationTime), del];
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
    }
  });

  action(deployButton, async () => {
    if (!model.value.trim() || !name.value.trim()) throw new Error("give a model and an endpoint name");
    await deploy(name.value.trim(), model.value.trim(), eula.checked);
  });
  action(send, async () => {
    if (!selects[0].value) throw new Error("no endpoint in service to send to");
    answer.textContent = ""; answer.dataset.done = ""; answerInfo.textContent = "";
    await ask(selects[0].value, shape.value, prompt.value, Number(maxTokens.value), stream.checked, (t) => { answer.textContent += t; }, Number(temperature.value));
    answer.dataset.done = "1";
    answerInfo.textContent = `done: ${answer.textContent.length} characters`;
  });
  action(compare, async () => {
    if (!selects[1].value || !selects[2].value) throw new Error("choose two endpoints");
    answers.forEach((a) => { a.textContent = ""; a.dataset.done = ""; });
    await Promise.all([1, 2].map((i) => ask(selects[i].value, shape.value, sidePrompt.value, Number(maxTokens.value), stream.checked,
      (t) => { answers[i - 1].textContent += t; }, Number(temperature.value)).then(() => { answers[i - 1].dataset.done = "1"; })));
  });
}
