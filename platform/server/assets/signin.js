// The sign-in page's password form (shown when local accounts are on): posts to
// /auth/login, then goes where the page was asked to return to.
const form = document.getElementById("local");
if (form) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const d = new FormData(form);
    const res = await fetch("/auth/login", {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({username: d.get("username"), password: d.get("password")})});
    const body = await res.json();
    if (body.error) {
      document.getElementById("out").textContent = body.error.message;
      return;
    }
    location.assign(form.dataset.returnTo || "/");
  });
}
