// The one client every page uses: the SageMaker control plane (what boto3 calls), the runtime,
// TGI/OpenAI routes, and Studio's read-only views. The API key (when the server has one) lives
// in sessionStorage and goes as a Bearer token on every request.

const KEY = "springboard.apiKey";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(code ? `${code}: ${message}` : message);
    this.status = status; this.code = code; this.detail = message;
  }
}

let onUnauthorized = null;
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// Whether the server answers at all, and which request each error came from: app.js shows a
// "server unreachable" state while fetch itself fails, and clears an error banner once the
// request that caused it (same method, path and operation) succeeds.
const listeners = { success: [], unreachable: [] };
export function onRequest(event, fn) { listeners[event].push(fn); }
let reachable = true;

function succeeded(key) {
  reachable = true;
  for (const fn of listeners.success) fn(key);
}

// fetch, with a network failure (server down, connection refused) turned into one ApiError.
async function reach(path, init, key) {
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    reachable = false;
    const error = unreachableError(`cannot reach the Springboard server at ${location.origin} (${err.message})`, key);
    for (const fn of listeners.unreachable) fn(error);
    throw error;
  }
  return response;
}

function unreachableError(what, key) {
  const error = new ApiError(0, "", `Server unreachable: ${what}. Statuses on this page are the last known ones, ` +
    "marked Unknown; Studio keeps trying and clears this once the server answers.");
  error.code = "ServerUnreachable"; error.unreachable = true; error.key = key;
  return error;
}
export function apiKey() { return sessionStorage.getItem(KEY); }
export function setApiKey(key) { key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY); }

function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h["Authorization"] = `Bearer ${key}`;
  return h;
}

async function failure(response) {
  let code = "", message = `${response.status} ${response.statusText}`, errors = null, extra = null;
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (Array.isArray(body.errors)) errors = body.errors;  // field by field (Studio's form checks)
    extra = body;
    code = body.__type || (body.error && body.error.type) || "";
    message = body.message || body.Message || (body.error && body.error.message) ||
      (typeof body.detail === "string" ? body.detail : body.detail ? JSON.stringify(body.detail) : "") || text;
    if (code.includes("#")) code = code.split("#").pop();
  } catch { if (text) message = text; }
  // 401 from Studio's and the runtime's routes; the control plane answers AWS-style (403).
  const unauthorized = response.status === 401 || (response.status === 403 && code === "MissingAuthenticationTokenException");
  if (unauthorized && onUnauthorized) onUnauthorized(message);
  const error = new ApiError(response.status, code, message);
  error.errors = errors; error.body = extra;
  return error;
}

export async function request(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders) };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!init.headers["Content-Type"]) init.headers["Content-Type"] = "application/json";
  }
  const key = `${method} ${path} ${extraHeaders["X-Amz-Target"] || ""}`;
  const response = await reach(path, init, key);
  if (!response.ok) { const error = await failure(response); error.key = key; succeededReach(); throw error; }
  const type = response.headers.get("content-type") || "";
  const result = await (type.includes("json") ? response.json() : response.text());
  succeeded(key);
  return result;
}

// A server that answers (even with an error) is reachable again.
function succeededReach() { if (!reachable) succeeded(null); }

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

// SageMaker.<operation> on POST /, as boto3 sends it.
export function sm(operation, params = {}) {
  return request("POST", "/", params, {
    "Content-Type": "application/x-amz-json-1.1",
    "X-Amz-Target": `SageMaker.${operation}`,
  });
}

// Server-sent events from a POST: calls onData(parsed JSON) per `data:` line.
export async function streamEvents(path, body, onData) {
  const key = `POST ${path} `;
  const response = await reach(path, {
    method: "POST", body: JSON.stringify(body),
    headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
  }, key);
  if (!response.ok) { const error = await failure(response); error.key = key; succeededReach(); throw error; }
  succeeded(key);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    let chunk;
    try { chunk = await reader.read(); } catch (err) {
      // the connection broke mid-answer: the server stopped, or the network went away
      reachable = false;
      const error = unreachableError(`the connection to the server broke during the answer (${err.message})`, key);
      for (const fn of listeners.unreachable) fn(error);
      throw error;
    }
    const { value, done } = chunk;
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, cut).trim();
      buffer = buffer.slice(cut + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      const parsed = JSON.parse(data);
      if (parsed.error) {
        const error = new ApiError(400, parsed.error.type || "", parsed.error.message || parsed.error);
        error.key = key;
        throw error;
      }
      onData(parsed);
    }
  }
}
