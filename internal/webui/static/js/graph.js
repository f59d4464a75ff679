// graph.js scrolls the graph's frame to what the reader asked for — the table whose
// neighbourhood is shown, or the dataset just opened — instead of leaving it at the top left
// of a drawing that may be several screens tall; and while a box is pointed at or focused, it
// brings out that box's edges and fades the others, so a dense graph can still be read.
export default function graph(wrap) {
  highlightEdges(wrap.querySelector("svg"));
  const target = wrap.dataset.scrollTo;
  if (!target) return;
  const svg = wrap.querySelector("svg");
  // The topmost of the boxes that match: a table, or the tables of the dataset.
  const boxes = [...svg.querySelectorAll("[data-id]")].filter((el) => el.dataset.id === target || el.dataset.id.startsWith(target + "."));
  if (boxes.length === 0) return;
  const b = boxes.map((el) => el.getBoundingClientRect()).reduce((a, c) => (c.top < a.top ? c : a));
  const w = wrap.getBoundingClientRect();
  wrap.scrollTop += b.top - w.top - (boxes.length > 1 ? 24 : (w.height - b.height) / 2);
  wrap.scrollLeft += b.left - w.left - (w.width - b.width) / 2;
}

function highlightEdges(svg) {
  if (!svg) return;
  let current = null;
  const show = (box) => {
    const id = box ? box.dataset.id : null;
    if (id === current) return;
    current = id;
    for (const e of svg.querySelectorAll("path.e.on")) e.classList.remove("on");
    svg.classList.toggle("hl", id !== null);
    if (id === null) return;
    for (const e of svg.querySelectorAll("path.e")) {
      if (e.dataset.from === id || e.dataset.to === id) e.classList.add("on");
    }
  };
  svg.addEventListener("mouseover", (ev) => show(ev.target.closest("[data-id]")));
  svg.addEventListener("mouseleave", () => show(null));
  svg.addEventListener("focusin", (ev) => show(ev.target.closest("[data-id]")));
  svg.addEventListener("focusout", () => show(null));
}
