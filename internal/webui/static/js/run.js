// run.js keeps a running run's page current: it asks the server for the page's live part
// (server-rendered, the same template as the page) with If-None-Match, so that a poll that
// would change nothing costs a 304 and touches nothing. Rows keep their place and height
// between updates; an error the reader opened stays open. Polling stops when the run ends.
export default function live(el) {
  const url = el.dataset.live;
  const every = Number(el.dataset.interval) || 1000;
  let etag = null;
  let timer = null;

  const terminal = (state) => state && state !== "running";

  async function poll() {
    timer = null;
    if (document.hidden) return; // resumed by visibilitychange
    try {
      const headers = { Accept: "text/html" };
      if (etag) headers["If-None-Match"] = etag;
      const res = await fetch(url, { headers, credentials: "same-origin", cache: "no-cache" });
      if (res.redirected) {
        // Signed out meanwhile (sent to the sign-in page): load the page itself, which asks.
        location.reload();
        return;
      }
      if (res.status === 200) {
        etag = res.headers.get("ETag");
        apply(await res.text());
        el.dataset.state = res.headers.get("X-Run-State") || el.dataset.state;
      } else if (res.status !== 304) {
        el.dataset.liveError = String(res.status);
      }
    } catch (err) {
      el.dataset.liveError = String(err);
    }
    if (!terminal(el.dataset.state)) timer = setTimeout(poll, every);
  }

  function apply(html) {
    // Keep what the reader opened and where the focus was.
    const open = new Set([...el.querySelectorAll("tr[data-name] details[open]")].map((d) => d.closest("tr").dataset.name));
    const focused = document.activeElement && el.contains(document.activeElement) ? focusKey(document.activeElement) : null;
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    for (const d of tpl.content.querySelectorAll("tr[data-name] details")) {
      if (open.has(d.closest("tr").dataset.name)) d.open = true;
    }
    el.replaceChildren(tpl.content);
    if (focused) {
      const again = el.querySelector(focused);
      if (again) again.focus({ preventScroll: true });
    }
    el.dispatchEvent(new CustomEvent("run:updated", { bubbles: true }));
  }

  function focusKey(node) {
    const row = node.closest("tr[data-name]");
    if (!row) return null;
    const what = node.tagName === "SUMMARY" ? "summary" : "a";
    return `tr[data-name="${CSS.escape(row.dataset.name)}"] ${what}`;
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !timer && !terminal(el.dataset.state)) poll();
  });
  if (!terminal(el.dataset.state)) timer = setTimeout(poll, every);
}
