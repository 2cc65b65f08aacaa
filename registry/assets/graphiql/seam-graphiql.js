// Starts GraphiQL against this service's /graphql. Everything it loads comes from this service
// (/graphql/assets/), so the page works on a network without internet access.
(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + "/graphql" });
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      defaultQuery:
        "# Mutations need the write token: add {\"Authorization\": \"Bearer <token>\"} under Headers.\n" +
        "{\n  devices(first: 5) {\n    edges { node { shortName board { label } } }\n  }\n}\n",
    })
  );
})();
