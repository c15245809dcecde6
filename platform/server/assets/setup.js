// The setup form: posts the token from the URL fragment with the new administrator.
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
document.getElementById("f").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const d = new FormData(ev.target);
  const res = await fetch("/graphql", {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify({query: "mutation($t:String!,$u:String!,$p:String!){completeSetup(token:$t,username:$u,password:$p){username}}",
      variables: {t: token, u: d.get("username"), p: d.get("password")}})});
  const body = await res.json();
  document.getElementById("out").textContent = body.errors ? body.errors[0].message
    : "Administrator " + body.data.completeSetup.username + " created. Sign in with POST /auth/login or an API client.";
});
