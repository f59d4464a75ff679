// admin.js: the admin pages' forms. Each form with data-put="/path/{field}" (or data-post)
// sends its fields as JSON to the API; the token form shows the new token once.
import { api, problemText, toast } from "./api.js";

function fields(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else if (el.type === "number") { if (el.value !== "") out[el.name] = Number(el.value); }
    else if (el.value.trim() !== "") out[el.name] = el.value.trim();
  }
  return out;
}

export default function admin(root) {
  for (const form of root.querySelectorAll("form[data-send]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = fields(form);
      const [method, pattern] = form.dataset.send.split(" ");
      const path = pattern.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(body[k] || ""));
      const err = form.querySelector(".error");
      if (err) err.hidden = true;
      try {
        const { data } = await api(method, path, body);
        if (form.dataset.showToken !== undefined) {
          const out = document.getElementById("new-token");
          out.querySelector("code").textContent = data.token;
          out.hidden = false;
          out.querySelector("code").focus();
          form.reset();
          return;
        }
        toast("Saved.");
        location.reload();
      } catch (e) {
        if (err) { err.textContent = problemText(e); err.hidden = false; }
        else toast(problemText(e), true);
      }
    });
  }
}
