// graph.js scrolls the graph's frame to what the reader asked for — the table whose
// neighbourhood is shown, or the dataset just opened — instead of leaving it at the top left
// of a drawing that may be several screens tall.
export default function graph(wrap) {
  const target = wrap.dataset.scrollTo;
  if (!target) return;
  const svg = wrap.querySelector("svg");
  const box = [...svg.querySelectorAll("[data-id]")].find((el) => el.dataset.id === target || el.dataset.id.startsWith(target + "."));
  if (!box) return;
  const b = box.getBoundingClientRect();
  const w = wrap.getBoundingClientRect();
  wrap.scrollTop += b.top - w.top - (w.height - b.height) / 2;
  wrap.scrollLeft += b.left - w.left - (w.width - b.width) / 2;
}
