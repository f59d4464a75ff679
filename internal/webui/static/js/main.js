// main.js is loaded by every page. It wires the behaviour a page asks for through data-
// attributes, so pages carry no inline script (the Content-Security-Policy forbids it).
import { wireActions } from "./api.js";

const modules = {
  "[data-live]": () => import("./run.js"),
  "[data-graph]": () => import("./graph.js"),
  "[data-signin]": () => import("./signin.js"),
  "[data-editor]": () => import("./editor.js"),
  "[data-admin]": () => import("./admin.js"),
};

wireActions(document);
for (const [selector, load] of Object.entries(modules)) {
  const el = document.querySelector(selector);
  if (el) load().then((m) => m.default(el));
}
