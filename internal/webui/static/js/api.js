// api.js calls the JSON API from pages. The session cookie authenticates (HttpOnly, so this
// script never sees the token); the API answers problems as application/problem+json.

export class APIError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export async function api(method, path, body, headers = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1" + path, init);
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text }; }
  if (!res.ok) throw new APIError(res.status, data || {});
  return { data, res };
}

let toastTimer;
export function toast(message, bad = false) {
  const el = document.getElementById("toast");
  if (!el) return;
  el.textContent = message;
  el.classList.toggle("bad", bad);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 12000 : 6000);
}

export function problemText(err) {
  if (!(err instanceof APIError)) return String(err.message || err);
  const fields = (err.problem.errors || []).map((e) => `${e.field}: ${e.reason}`);
  return [err.message, ...fields].join("\n");
}

// wireActions makes buttons with data-api="METHOD /path" call the API with the JSON of their
// data-body, confirm first when they carry data-confirm, then follow data-then: "reload", or
// a URL template where {id} is the answer's id.
export function wireActions(root) {
  root.addEventListener("click", async (ev) => {
    const btn = ev.target.closest("button[data-api]");
    if (!btn) return;
    ev.preventDefault();
    if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
    const [method, path] = btn.dataset.api.split(" ");
    const body = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
    btn.disabled = true;
    try {
      const { data } = await api(method, path, body);
      const then = btn.dataset.then || "reload";
      toast(btn.dataset.done || "Done.");
      if (then === "reload") location.reload();
      else if (then !== "stay") location.assign(then.replace("{id}", encodeURIComponent((data && data.id) || "")));
    } catch (err) {
      toast(problemText(err), true);
    } finally {
      btn.disabled = false;
    }
  });
}
