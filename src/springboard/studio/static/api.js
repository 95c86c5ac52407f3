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
export function apiKey() { return sessionStorage.getItem(KEY); }
export function setApiKey(key) { key ? sessionStorage.setItem(KEY, key) : sessionStorage.removeItem(KEY); }

function headers(extra = {}) {
  const h = { ...extra };
  const key = apiKey();
  if (key) h["Authorization"] = `Bearer ${key}`;
  return h;
}

async function failure(response) {
  let code = "", message = `${response.status} ${response.statusText}`;
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    code = body.__type || (body.error && body.error.type) || "";
    message = body.message || body.Message || (body.error && body.error.message) ||
      (typeof body.detail === "string" ? body.detail : body.detail ? JSON.stringify(body.detail) : "") || text;
    if (code.includes("#")) code = code.split("#").pop();
  } catch { if (text) message = text; }
  // 401 from Studio's and the runtime's routes; the control plane answers AWS-style (403).
  const unauthorized = response.status === 401 || (response.status === 403 && code === "MissingAuthenticationTokenException");
  if (unauthorized && onUnauthorized) onUnauthorized(message);
  return new ApiError(response.status, code, message);
}

export async function request(method, path, body, extraHeaders = {}) {
  const init = { method, headers: headers(extraHeaders) };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    if (!init.headers["Content-Type"]) init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await failure(response);
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

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
  const response = await fetch(path, {
    method: "POST", body: JSON.stringify(body),
    headers: headers({ "Content-Type": "application/json", "Accept": "text/event-stream" }),
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
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
      if (parsed.error) throw new ApiError(400, parsed.error.type || "", parsed.error.message || parsed.error);
      onData(parsed);
    }
  }
}
