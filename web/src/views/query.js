// Queries: the named SPARQL queries one click away (run with their parameters, or opened in the
// editor), a SPARQL editor (CodeMirror 6 with its SPARQL mode), and results as a table.
import { EditorView, basicSetup } from 'codemirror';
import { StreamLanguage } from '@codemirror/language';
import { sparql as sparqlMode } from '@codemirror/legacy-modes/mode/sparql';
import { namedQueries, sparql, token } from '../api.js';
import { h, fill, link, to, local, table } from '../ui.js';

const START = `PREFIX seam: <https://w3id.org/seam/ontology#>
PREFIX rdfs: <http://www.w3.org/2000/01/rdf-schema#>

# Devices per board
SELECT ?board (COUNT(?device) AS ?devices)
WHERE { ?device a seam:Device ; seam:board ?board }
GROUP BY ?board
ORDER BY DESC(?devices)
`;

const DEVICE = 'https://w3id.org/seam/device/';
const MODEL = 'https://w3id.org/seam/model/';

function term(t) {
  if (!t) return '';
  if (t.type === 'uri') {
    if (t.value.startsWith(DEVICE)) return link(to.device(t.value), local(t.value));
    if (t.value.startsWith(MODEL)) return link(to.model(t.value), local(t.value).slice(0, 12));
    return h('code', { title: t.value }, local(t.value) || t.value);
  }
  return t.value;
}

function results(answer) {
  if (answer.text !== undefined) return h('pre', { class: 'rdf' }, answer.text);
  const json = answer.json;
  if (typeof json.boolean === 'boolean') return h('p', {}, `Answer: ${json.boolean}`);
  const vars = json.head.vars;
  const rows = json.results.bindings;
  return [
    h('p', { class: 'muted' }, `${rows.length} row${rows.length === 1 ? '' : 's'}${rows.length > 1000 ? '; the first 1,000 are shown' : ''}`),
    table(vars.map((v) => ({ title: v, cell: (r) => term(r[v]) })), rows.slice(0, 1000), { caption: 'Results', empty: 'No rows.' }),
  ];
}

async function runNamed(name, values) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== '') params.set(k, v);
  const headers = { Accept: 'application/sparql-results+json' };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(`/queries/${encodeURIComponent(name)}?${params}`, { headers });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `${response.status} ${response.statusText}`);
  return { json: body };
}

async function namedText(name) {
  const response = await fetch(`/queries/${encodeURIComponent(name)}`, { headers: { Accept: 'application/sparql-query' } });
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  return response.text();
}

export async function queryView(main) {
  const named = await namedQueries();
  const output = h('section', { 'aria-label': 'Results', 'aria-live': 'polite', class: 'results' });
  const holder = h('div', { class: 'editor', 'aria-label': 'SPARQL query' });
  const editor = new EditorView({
    doc: START,
    // Lines wrap and the editor grows with its text: no scrolling region inside the page, which
    // keyboard users could not reach.
    extensions: [basicSetup, EditorView.lineWrapping, StreamLanguage.define(sparqlMode), EditorView.contentAttributes.of({ 'aria-label': 'SPARQL query' })],
    parent: holder,
  });

  const show = async (work) => {
    fill(output, h('p', { class: 'muted' }, 'Running…'));
    const started = performance.now();
    try {
      const answer = await work();
      fill(output, h('p', { class: 'muted' }, `${Math.round(performance.now() - started)} ms`), results(answer));
    } catch (error) {
      fill(output, h('p', { class: 'problem', role: 'alert' }, String(error.message)));
    }
  };

  const open = async (name) => {
    const text = await namedText(name);
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
    editor.focus();
  };
  // One line per query: run it at once when it needs no parameter; its description and its
  // parameters one click further.
  const namedList = h('ul', { class: 'named' }, named.map((q) => {
    const required = q.parameters.some((p) => p.required);
    const inputs = q.parameters.map((p) => h('label', {}, `${p.name} `,
      h('input', { name: p.name, type: 'text', required: p.required, placeholder: p.default || p.type, title: p.description })));
    return h('li', {},
      h('div', { class: 'head' },
        h('strong', {}, q.name),
        required ? null : h('button', { type: 'button', onclick: () => show(() => runNamed(q.name, {})) }, `Run ${q.name}`),
        h('button', { type: 'button', onclick: () => open(q.name), 'aria-label': `Open in editor: ${q.name}` }, 'Open in editor')),
      h('details', { open: required },
        h('summary', {}, q.parameters.length ? 'What it answers; parameters' : 'What it answers'),
        h('p', { class: 'muted' }, q.purpose),
        q.parameters.length ? h('form', {
          class: 'params',
          onsubmit: (e) => {
            e.preventDefault();
            show(() => runNamed(q.name, Object.fromEntries(new FormData(e.target).entries())));
          },
        }, inputs, h('button', { type: 'submit' }, `Run ${q.name} with these`)) : null));
  }));

  fill(main,
    h('h1', {}, 'Query'),
    h('p', {}, 'SPARQL 1.1 over the registry’s graph (read-only here; updates go to ', h('code', {}, 'POST /update'), ' with the token). GraphQL has its own editor: ', h('a', { href: '/graphql' }, 'GraphiQL'), '.'),
    h('div', { class: 'query' },
      h('section', { 'aria-label': 'Editor' },
        holder,
        h('button', { type: 'button', class: 'primary', onclick: () => show(() => sparql(editor.state.doc.toString())) }, 'Run query'),
        h('span', { class: 'muted' }, ' or Ctrl+Enter')),
      h('section', { 'aria-label': 'Named queries' }, h('h2', {}, 'Named queries'), namedList)),
    output);
  holder.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      show(() => sparql(editor.state.doc.toString()));
    }
  });
  return () => editor.destroy();
}
