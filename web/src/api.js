// How the page talks to the service: GraphQL over HTTP for reads and writes, graphql-ws over
// /graphql/ws for rollout events, and the named SPARQL queries over HTTP.
import { createClient } from 'graphql-ws';

const TOKEN_KEY = 'seam.token';

/** The write token, kept for this browser tab only. */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Keeps (or, empty, forgets) the write token. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// `seam demo` prints a URL whose fragment carries its token (#token=…): taken once, then removed
// from the address bar so that it is not bookmarked or shared by accident.
export function takeTokenFromLocation() {
  const match = /^#token=([0-9A-Za-z._~-]+)$/.exec(location.hash);
  if (match) {
    setToken(match[1]);
    history.replaceState(null, '', `${location.pathname}#/fleet`);
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  if (token()) h.Authorization = `Bearer ${token()}`;
  return h;
}

async function problemOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    return new Error(body.detail || body.title || `${response.status} ${response.statusText}`);
  } catch {
    return new Error(`${response.status} ${response.statusText}`);
  }
}

/** Runs a GraphQL operation; rejects with the first error's message. */
export async function gql(query, variables = {}) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json' }),
    body: JSON.stringify({ query, variables }),
  });
  if (!response.ok && !(response.headers.get('content-type') || '').includes('json')) {
    throw await problemOf(response);
  }
  const body = await response.json();
  if (body.errors && body.errors.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return body.data;
}

/** GET a JSON resource of the service. */
export async function getJson(path) {
  const response = await fetch(path, { headers: headers({ Accept: 'application/json' }) });
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

/** Runs a SPARQL query (SELECT/ASK as SPARQL JSON results, others as text). */
export async function sparql(query) {
  const response = await fetch('/sparql', {
    method: 'POST',
    headers: headers({
      'Content-Type': 'application/sparql-query',
      Accept: 'application/sparql-results+json, text/turtle;q=0.9',
    }),
    body: query,
  });
  if (!response.ok) throw await problemOf(response);
  const type = response.headers.get('content-type') || '';
  return type.includes('json') ? { json: await response.json() } : { text: await response.text() };
}

/** The named queries (`GET /queries`). */
export async function namedQueries() {
  return getJson('/queries');
}

let client = null;
let clientToken = null;

/** Subscribes to a GraphQL subscription; returns a function that stops it. */
export function subscribe(query, variables, { next, error, complete }) {
  if (!client || clientToken !== token()) {
    if (client) client.dispose();
    clientToken = token();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    client = createClient({
      url: `${scheme}://${location.host}/graphql/ws`,
      connectionParams: () => (token() ? { Authorization: `Bearer ${token()}` } : {}),
      retryAttempts: 5,
      lazy: true,
    });
  }
  return client.subscribe({ query, variables }, {
    next: (value) => {
      if (value.errors && value.errors.length) error(new Error(value.errors.map((e) => e.message).join('; ')));
      else next(value.data);
    },
    error: (e) => error(e instanceof Error ? e : new Error(e && e.reason ? e.reason : 'the event stream closed')),
    complete: complete || (() => {}),
  });
}
