// signin.js: maestro dev prints /signin#token=mae_…; the fragment never reaches a server or a
// log. Take it into the form, drop it from the address bar and history, and sign in.
export default function signin(form) {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (!token) return;
  history.replaceState(null, "", location.pathname + location.search);
  form.querySelector("[name=token]").value = token;
  form.requestSubmit();
}
