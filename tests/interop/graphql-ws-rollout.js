// A GraphQL-over-WebSocket client written by others (graphql-ws, the reference implementation
// of the graphql-transport-ws protocol, on the `ws` package) drives a SEAM rollout: it starts one
// with the startRollout mutation (the token in connection_init's payload) and follows it with the
// rolloutEvents subscription, printing each event as one JSON line, until the stream completes.
//
// usage: node graphql-ws-rollout.js ws://HOST:PORT/graphql/ws TOKEN MODEL_IRI DEVICE...
'use strict';

const path = require('path');
const modules = process.env.SEAM_NODE_MODULES;
const { createClient } = require(path.join(modules, 'graphql-ws'));
const WebSocket = require(path.join(modules, 'ws'));

const [url, token, model, ...devices] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  lazy: false,
  retryAttempts: 0,
});

function once(query, variables) {
  return new Promise((resolve, reject) => {
    let result;
    client.subscribe({ query, variables }, {
      next: (value) => { result = value; },
      error: reject,
      complete: () => resolve(result),
    });
  });
}

async function main() {
  const started = await once(
    `mutation ($input: RolloutInput!) { startRollout(input: $input) { id state devices { device state } } }`,
    { input: { model, devices, canarySize: 1 } },
  );
  if (started.errors) throw new Error(JSON.stringify(started.errors));
  const id = started.data.startRollout.id;
  console.log(JSON.stringify({ started: id }));
  await new Promise((resolve, reject) => {
    client.subscribe(
      {
        query: `subscription ($id: ID!) { rolloutEvents(id: $id) { rollout state device deviceState reason counts { state devices } } }`,
        variables: { id },
      },
      {
        next: (value) => console.log(JSON.stringify(value)),
        error: (e) => reject(new Error(JSON.stringify(e))),
        complete: resolve,
      },
    );
  });
  // Without the token, the same mutation is refused.
  const anonymous = createClient({ url, webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
  const refused = await new Promise((resolve, reject) => {
    let result;
    anonymous.subscribe(
      { query: `mutation ($input: RolloutInput!) { startRollout(input: $input) { id } }`, variables: { input: { model, devices } } },
      { next: (v) => { result = v; }, error: reject, complete: () => resolve(result) },
    );
  });
  console.log(JSON.stringify({ anonymous: refused }));
  await anonymous.dispose();
  await client.dispose();
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
