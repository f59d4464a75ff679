// signin.js: maestro dev prints /signin#code=…, a one-time code for its admin token. The
// fragment never reaches a server or a log: take the code into the form, drop it from the
// address bar and history, and sign in.
export default function signin(form) {
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (!code) return;
  history.replaceState(null, "", location.pathname + location.search);
  form.querySelector("[name=code]").value = code;
  form.requestSubmit();
}
