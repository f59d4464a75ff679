// editor.js: the table editor. As one types, the draft is checked by the API (POST
// /api/v1/check): parse errors with their line and column, the tables it would read and be
// read by, and a dry-run estimate where the warehouse gives one. Save sends the stored
// definition with the form's fields changed, so settings the form does not show are kept.
import { api, APIError, toast } from "./api.js";

const DEBOUNCE_MS = 300;

export default function editor(form) {
  const isNew = form.dataset.new === "true";
  const stored = JSON.parse(form.dataset.table || "{}");
  const sql = form.querySelector("#e-sql");
  const status = document.getElementById("check-status");
  const errorsList = document.getElementById("check-errors");
  const hl = document.getElementById("e-hl");
  const saveError = document.getElementById("save-error");
  let timer = null;
  let inflight = null;
  let seq = 0;

  function draft() {
    const t = { ...stored };
    const val = (name) => form.elements[name] && form.elements[name].value.trim();
    if (isNew) t.name = val("name") || "";
    else t.name = form.dataset.name;
    t.sql = sql.value;
    t.owner = val("owner") || "";
    t.description = val("description") || "";
    if (form.elements.group) t.group = val("group") || "";
    const boxes = form.querySelectorAll("input[name=schedules]");
    if (boxes.length) t.schedules = [...boxes].filter((b) => b.checked).map((b) => b.value);
    if (!t.kind) t.kind = "query";
    return t;
  }

  function list(id, names, link) {
    const ul = document.getElementById(id);
    ul.replaceChildren();
    if (!names || names.length === 0) {
      const li = document.createElement("li");
      li.className = "sub";
      li.textContent = "none";
      ul.append(li);
      return;
    }
    for (const n of names) {
      const li = document.createElement("li");
      if (link) {
        const a = document.createElement("a");
        a.href = "/tables/" + encodeURIComponent(n);
        a.textContent = n;
        li.append(a);
      } else li.textContent = n;
      ul.append(li);
    }
  }

  // goTo puts the caret at a line and column of the SQL (1-based, columns in bytes; the same
  // as characters for the ASCII of most SQL).
  function goTo(line, column) {
    const lines = sql.value.split("\n");
    let off = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) off += lines[i].length + 1;
    off += Math.max(0, column - 1);
    sql.focus();
    sql.setSelectionRange(off, off + 1);
  }

  function showErrors(errors) {
    errorsList.replaceChildren();
    for (const e of errors || []) {
      const li = document.createElement("li");
      if (e.line) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "link";
        b.textContent = `Line ${e.line}, column ${e.column}`;
        b.addEventListener("click", () => goTo(e.line, e.column));
        li.append(b, document.createTextNode(": " + e.reason.replace(/^line \d+, column \d+: /, "")));
      } else {
        li.textContent = (e.field === "sql" ? "" : e.field + ": ") + e.reason;
      }
      errorsList.append(li);
    }
  }

  function showEstimate(est) {
    const el = document.getElementById("check-estimate");
    if (!est) return;
    const gib = est.bytes_processed / 2 ** 30;
    let text = gib >= 0.1 ? `${gib.toFixed(2)} GiB processed` : `${est.bytes_processed} bytes processed`;
    if (est.usd != null) text += ` · about $${est.usd.toFixed(est.usd < 0.01 ? 4 : 2)}`;
    el.textContent = text;
    if (est.warning) {
      const w = document.createElement("p");
      w.className = "notice";
      w.textContent = est.warning;
      el.append(w);
    }
  }

  async function check() {
    const mine = ++seq;
    if (inflight) inflight.abort();
    inflight = new AbortController();
    status.textContent = "Checking…";
    try {
      const res = await fetch("/api/v1/check" + (isNew ? "?create=true" : ""), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(draft()),
        signal: inflight.signal,
      });
      const out = await res.json();
      if (mine !== seq) return;
      if (!res.ok) {
        status.textContent = out.detail || `The check failed (HTTP ${res.status}).`;
        return;
      }
      const n = out.errors.length;
      status.textContent = out.valid ? "No problems: this would save." : `${n} problem${n === 1 ? "" : "s"}: this would not save.`;
      status.className = out.valid ? "ok" : "";
      showErrors(out.errors);
      const parsed = !out.errors.some((e) => e.field === "sql" && e.line);
      if (parsed) {
        list("check-upstream", out.upstream, true);
        list("check-downstream", out.downstream, true);
        list("check-external", out.external_sources, false);
      }
      showEstimate(out.estimate);
    } catch (err) {
      if (err.name !== "AbortError" && mine === seq) status.textContent = "The check could not be made: " + err.message;
    }
  }

  // The highlighted copy follows every keystroke as plain text at once, and takes its colours
  // from the server (the same lexer as the table page) when typing pauses.
  let hlSeq = 0;
  function syncScroll() {
    hl.parentElement.scrollTop = sql.scrollTop;
    hl.parentElement.scrollLeft = sql.scrollLeft;
  }
  function mirror() {
    hl.textContent = sql.value + "\n";
    syncScroll();
  }
  async function colour() {
    const mine = ++hlSeq;
    const text = sql.value;
    try {
      const res = await fetch("/highlight", { method: "POST", credentials: "same-origin", headers: { "Content-Type": "text/plain" }, body: text });
      if (!res.ok || mine !== hlSeq || text !== sql.value) return;
      hl.innerHTML = (await res.text()) + "\n";
      syncScroll();
    } catch { /* the plain copy stays */ }
  }
  sql.addEventListener("input", mirror);
  sql.addEventListener("scroll", syncScroll);
  new ResizeObserver(syncScroll).observe(sql);

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => { check(); colour(); }, DEBOUNCE_MS);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  // Tab in the SQL inserts a tab only with no modifier; Escape then Tab leaves the field, so
  // keyboard users are never trapped.
  let escaped = false;
  sql.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") { escaped = true; return; }
    if (ev.key === "Tab" && !ev.shiftKey && !escaped) {
      ev.preventDefault();
      sql.setRangeText("\t", sql.selectionStart, sql.selectionEnd, "end");
      mirror();
      schedule();
    }
    escaped = false;
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    saveError.hidden = true;
    const t = draft();
    const message = (form.elements.message.value || "").trim();
    const q = message ? "?message=" + encodeURIComponent(message) : "";
    const button = document.getElementById("e-save");
    button.disabled = true;
    try {
      if (isNew) await api("POST", "/tables" + q, t);
      else await api("PUT", "/tables/" + encodeURIComponent(t.name) + q, t, { "If-Match": `"${form.dataset.revision}"` });
      toast("Saved.");
      location.assign("/tables/" + encodeURIComponent(t.name));
    } catch (err) {
      let text = err.message;
      if (err instanceof APIError) {
        if (err.status === 412) text = "Someone changed this table since you opened it. Copy your SQL, reload, and redo your change.";
        if (err.problem.errors) showErrors(err.problem.errors);
      }
      saveError.textContent = text;
      saveError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  if (sql.value.trim() !== "") check();
}
