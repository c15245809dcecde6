// Starts GraphiQL against this server's /graphql. A signed-in browser session needs its
// CSRF token on mutations: it is read once from /auth/csrf (same origin only) and sent
// as X-CSRF-Token with every request.
(async function () {
  const headers = { "content-type": "application/json" };
  try {
    const r = await fetch("/auth/csrf", { credentials: "same-origin" });
    if (r.ok) {
      const body = await r.json();
      if (body.csrfToken) headers["x-csrf-token"] = body.csrfToken;
    }
  } catch (_) {
    // Not signed in: GraphiQL still works with an Authorization header of one's own.
  }
  const fetcher = GraphiQL.createFetcher({ url: "/graphql", headers });
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true }));
})();
