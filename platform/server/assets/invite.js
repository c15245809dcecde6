// The invited user's password form: posts the token from the URL fragment (which never
// reaches the server's logs) with the chosen password, then forgets the fragment.
"use strict";
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", location.pathname);
document.getElementById("f").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const d = new FormData(ev.target);
  const res = await fetch("/auth/invitation", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token, password: d.get("password") }),
  });
  const body = await res.json().catch(() => ({}));
  document.getElementById("out").textContent = res.ok
    ? "Your password is set. Sign in as " + body.username + "."
    : (body.error && body.error.message) || "something went wrong";
});
