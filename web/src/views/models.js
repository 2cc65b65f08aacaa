// The model catalog with its figures, each marked measured (SEAM analysed the file) or as
// declared by whoever described the model; a model's page lists the devices it runs on.
import { gql } from '../api.js';
import { h, fill, link, to, bytes, count, local, table, facts, verdict } from '../ui.js';

const LIST = `query Models($after: String) {
  models(first: 200, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name task dtype params macs weightBytes peakActivationBytes arenaBytes accuracy method operators }
  }
}`;

const ONE = `query Model($id: String!) {
  model(id: $id) { id name task dtype params macs weightBytes peakActivationBytes arenaBytes sizeBytes inputShape
                   accuracy method operators sensorKinds }
  compatibleDevices(model: $id) { device shortName fit { via runtime ramBytes flashBytes estimatedLatencyMs } }
}`;

/** A figure with how it was obtained. */
function figure(value, method, format = count) {
  if (value === null || value === undefined) return h('span', { class: 'muted' }, '—');
  return h('span', {}, format(value), ' ', h('span', { class: `method ${method}`, title: `${method}` }, method === 'measured' ? 'measured' : method));
}

export async function modelsView(main, params) {
  const after = params.get('after');
  const { models } = await gql(LIST, { after });
  fill(main,
    h('h1', {}, 'Models'),
    h('p', { class: 'muted' }, 'Figures marked “measured” come from SEAM’s analysis of the model file (the compiler bridge); others are as their describer stated them (estimated, published or declared).'),
    table([
      { title: 'Model', cell: (m) => link(to.model(m.id), m.name || local(m.id)) },
      { title: 'Task', cell: (m) => local(m.task) || '—' },
      { title: 'Type', cell: (m) => local(m.dtype) || '—' },
      { title: 'Params', class: 'num', cell: (m) => figure(m.params, m.method) },
      { title: 'MACs', class: 'num', cell: (m) => figure(m.macs, m.method) },
      { title: 'Weights', class: 'num', cell: (m) => figure(m.weightBytes, m.method, bytes) },
      { title: 'Peak activations', class: 'num', cell: (m) => figure(m.peakActivationBytes, m.method, bytes) },
      { title: 'Arena', class: 'num', cell: (m) => figure(m.arenaBytes, m.method, bytes) },
      { title: 'Operators', class: 'num', cell: (m) => (m.operators.length ? h('span', { title: m.operators.join(', ') }, String(m.operators.length)) : '—') },
      { title: 'Accuracy', class: 'num', cell: (m) => (m.accuracy === null ? '—' : `${(100 * m.accuracy).toFixed(1)} %`) },
    ], models.nodes, { caption: 'The catalog', empty: 'No model is registered yet: `seam models add FILE`.' }),
    h('nav', { class: 'pager', 'aria-label': 'Pages of models' },
      after ? h('a', { href: '#/models' }, '← First page') : null,
      models.pageInfo.hasNextPage ? h('a', { href: `#/models?after=${encodeURIComponent(models.pageInfo.endCursor)}` }, 'Next →') : null));
}

export async function modelView(main, _params, id) {
  const data = await gql(ONE, { id }).catch((e) => ({ error: e }));
  const m = data.model;
  if (!m) {
    fill(main, h('h1', {}, 'No such model'), h('p', {}, data.error ? String(data.error.message) : `No model is “${id}”. `, link('models', 'Back to the models')));
    return;
  }
  const devices = data.compatibleDevices || [];
  const asIs = devices.filter((d) => d.fit.via === 'as-is').length;
  const shown = devices.slice(0, 500);
  fill(main,
    h('p', { class: 'crumbs' }, link('models', 'Models'), ' › ', m.name || local(m.id)),
    h('h1', {}, m.name || local(m.id)),
    facts([
      ['IRI', h('code', {}, m.id)],
      ['Task', local(m.task)],
      ['Data type', local(m.dtype)],
      ['Figures', h('span', { class: `method ${m.method}` }, m.method)],
      ['Parameters', figure(m.params, m.method)],
      ['MACs per inference', figure(m.macs, m.method)],
      ['Weights', figure(m.weightBytes, m.method, bytes)],
      ['Peak activations', figure(m.peakActivationBytes, m.method, bytes)],
      ['Arena', figure(m.arenaBytes, m.method, bytes)],
      ['File size', m.sizeBytes ? bytes(m.sizeBytes) : null],
      ['Input shape', m.inputShape],
      ['Accuracy', m.accuracy === null ? null : `${(100 * m.accuracy).toFixed(1)} %`],
      ['Operators', m.operators.length ? h('ul', { class: 'chips' }, m.operators.map((o) => h('li', {}, h('code', {}, o)))) : null],
      ['Input from', m.sensorKinds.length ? m.sensorKinds.map(local).join(', ') : null],
    ]),
    h('p', {}, h('a', { class: 'button', href: `#/rollouts?model=${encodeURIComponent(m.id)}` }, 'Roll out to every device that can run it…')),
    h('h2', {}, `Runs on ${count(devices.length)} devices`),
    h('p', { class: 'muted' }, `${count(asIs)} as it is, ${count(devices.length - asIs)} through int8.${devices.length > shown.length ? ` The first ${shown.length} are listed.` : ''}`),
    table([
      { title: 'Device', cell: (d) => link(to.device(d.device), d.shortName || local(d.device)) },
      { title: 'How', cell: (d) => verdict(d.fit.via) },
      { title: 'Runtime', cell: (d) => local(d.fit.runtime) },
      { title: 'RAM', class: 'num', cell: (d) => bytes(d.fit.ramBytes) },
      { title: 'Flash', class: 'num', cell: (d) => bytes(d.fit.flashBytes) },
      { title: 'Latency', class: 'num', cell: (d) => (d.fit.estimatedLatencyMs === null ? '—' : `${d.fit.estimatedLatencyMs.toFixed(1)} ms`) },
    ], shown, { empty: 'No device of the fleet can run it.' }));
}
