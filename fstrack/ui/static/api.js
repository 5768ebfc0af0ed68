// The JSON API of docs/ui-api.md.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => q.append(key, v));
    else q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

async function handle(response) {
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || `${response.status} ${response.statusText}`);
  return body;
}

export async function get(path, params = {}, options = {}) {
  return handle(await fetch(`/api${path}${query(params)}`, { credentials: "same-origin", signal: options.signal }));
}

export async function post(path, body = {}) {
  return handle(await fetch(`/api${path}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Requested-With": "fstrack" },
    body: JSON.stringify(body),
  }));
}

export const action = (taskId, name, body = {}) => post(`/tasks/${taskId}/actions/${name}`, body);
export const objectUrl = (oid, name, type, download = false) =>
  `/api/objects/${oid}${query({ name, type, download: download ? 1 : "" })}`;
