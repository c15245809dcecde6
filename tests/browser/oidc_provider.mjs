// A certified OpenID provider (npm oidc-provider) for the sign-in tests, on 127.0.0.1.
// It listens at once and prints `issuer URL`; then it reads one JSON line from standard
// input — {"redirect_uris": [...], "post_logout_redirect_uris": [...], "secret": "...",
// "accounts": {"ann": {"email": ..., "groups": [...], "region": ...}}} — and serves the
// provider with that client and those accounts (the relying party's URL is known only
// once the test's Vitrine listens). Dev interactions: any password signs an account in.
import http from "node:http";
import readline from "node:readline";
import Provider from "oidc-provider";

let handler = (req, res) => { res.statusCode = 503; res.end("not ready"); };
const server = http.createServer((req, res) => handler(req, res));
server.listen(0, "127.0.0.1", () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  console.log(`issuer ${issuer}`);
  const rl = readline.createInterface({ input: process.stdin });
  rl.once("line", (line) => {
    const cfg = JSON.parse(line);
    const provider = new Provider(issuer, {
      clients: [{
        client_id: "vitrine",
        client_secret: cfg.secret,
        redirect_uris: cfg.redirect_uris,
        post_logout_redirect_uris: cfg.post_logout_redirect_uris,
        response_types: ["code"],
        grant_types: ["authorization_code"],
      }],
      scopes: ["openid", "email", "profile", "groups", "region"],
      claims: {
        openid: ["sub"],
        email: ["email", "email_verified"],
        profile: ["name", "preferred_username"],
        groups: ["groups"],
        region: ["region"],
      },
      async findAccount(ctx, id) {
        const a = cfg.accounts[id];
        if (!a) return undefined;
        return {
          accountId: id,
          async claims() {
            return { sub: id, preferred_username: id, name: a.name || id, email: a.email,
              email_verified: true, groups: a.groups || [], region: a.region };
          },
        };
      },
      pkce: { required: () => true },
      features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
    });
    // Over plain http on loopback: its cookies must not insist on https.
    provider.proxy = true;
    handler = provider.callback();
    console.log("ready");
  });
});
