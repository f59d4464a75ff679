// graph.js scrolls the graph's frame to what the reader asked for — the table whose
// neighbourhood is shown, or the dataset just opened — instead of leaving it at the top left
// of a drawing that may be several screens tall.
export default function graph(wrap) {
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
