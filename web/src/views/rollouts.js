// Rollouts: start one (a model, which devices, the canary and the thresholds), and watch one
// live through the `rolloutEvents` subscription: counts per state and per group, a progress
// bar, failures with their reasons; pause, resume, cancel, retry the failed.
import { gql, subscribe, token, namedQueries } from '../api.js';
import { h, fill, link, to, local, count, table, ago, announce } from '../ui.js';

const LIST = `{ rollouts { id modelName state reason started ended counts { state devices } } }`;
const MODELS = `{ models(first: 500) { nodes { id name task } } }`;
const ONE = `query Rollout($id: ID!) { rollout(id: $id) {
  id iri model modelName state reason started ended
  counts { state devices }
  groups { group devices counts { state devices } }
  builds { board runtime backend via devices artifact cacheHit error }
  devices { device deviceIri board group state reason via artifact }
} }`;
const EVENTS = `subscription Events($id: ID!) { rolloutEvents(id: $id) { state device deviceState reason counts { state devices } } }`;
const START = `mutation Start($input: RolloutInput!) { startRollout(input: $input) { id } }`;
const ACT = {
  pause: `mutation($id: ID!) { pauseRollout(id: $id) { id state } }`,
  resume: `mutation($id: ID!) { resumeRollout(id: $id) { id state } }`,
  cancel: `mutation($id: ID!) { cancelRollout(id: $id) { id state } }`,
  retry: `mutation($id: ID!) { retryFailedRollout(id: $id) { id state } }`,
};

const FINAL = new Set(['installed', 'failed', 'skipped', 'cancelled', 'rolled-back', 'rollback-failed']);
const ENDED = new Set(['completed', 'cancelled', 'halted']);

function total(counts) {
  return counts.reduce((n, c) => n + c.devices, 0);
}

function done(counts) {
  return counts.filter((c) => FINAL.has(c.state)).reduce((n, c) => n + c.devices, 0);
}

function countsText(counts) {
  return counts.filter((c) => c.devices).map((c) => `${c.state} ${count(c.devices)}`).join(' · ');
}

function stateChip(state) {
  return h('span', { class: `state ${state}` }, state);
}

export async function rolloutsView(main, params) {
  const [{ rollouts }, { models }, named] = await Promise.all([gql(LIST), gql(MODELS), namedQueries()]);
  const chosen = params.get('model') || '';
  const message = h('p', { role: 'status', class: 'muted' });
  const form = h('form', {
    class: 'start',
    onsubmit: async (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      const input = { model: f.get('model') };
      const which = f.get('which');
      if (which === 'compatible') input.compatible = true;
      else if (which === 'devices') input.devices = String(f.get('devices')).split(/[\s,]+/).filter(Boolean);
      else if (which === 'named') {
        // "name=value, name=value": the query's parameters, bound as typed terms by the service.
        const params = String(f.get('namedParams')).split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
          const at = p.indexOf('=');
          return at < 0 ? { name: p, value: '' } : { name: p.slice(0, at).trim(), value: p.slice(at + 1).trim() };
        });
        input.namedQuery = { name: String(f.get('namedQuery')), params };
      } else input.where = String(f.get('where'));
      const number = (name) => (f.get(name) === '' ? undefined : Number(f.get(name)));
      input.canaryPct = number('canaryPct');
      input.errorThresholdPct = number('errorThresholdPct');
      input.successThresholdPct = number('successThresholdPct');
      input.waveSize = number('waveSize');
      input.concurrency = number('concurrency');
      input.rollback = f.get('rollback') === 'on';
      fill(message, 'Starting…');
      try {
        const { startRollout } = await gql(START, { input });
        location.hash = `#/${to.rollout(startRollout.id)}`;
      } catch (error) {
        fill(message, h('span', { class: 'problem', role: 'alert' }, String(error.message)));
      }
    },
  },
  h('h2', {}, 'Start a rollout'),
  token() ? null : h('p', { class: 'problem' }, 'Starting a rollout needs the write token (top right).'),
  h('label', {}, 'Model ', h('select', { name: 'model', required: true },
    models.nodes.map((m) => h('option', { value: m.id, selected: m.id === chosen }, `${m.name || local(m.id)}${m.task ? ` (${local(m.task)})` : ''}`)))),
  h('fieldset', {}, h('legend', {}, 'Devices'),
    h('label', {}, h('input', { type: 'radio', name: 'which', value: 'compatible', checked: true }), ' every device that can run it'),
    h('label', {}, h('input', { type: 'radio', name: 'which', value: 'devices' }), ' these devices: ',
      h('input', { name: 'devices', type: 'text', placeholder: 'short names or IRIs, comma-separated', 'aria-label': 'Device names' })),
    h('label', {}, h('input', { type: 'radio', name: 'which', value: 'named' }), ' the devices a named query selects: ',
      h('select', { name: 'namedQuery', 'aria-label': 'Named query' }, named.map((q) => h('option', { value: q.name, title: q.purpose }, q.name))),
      ' ', h('input', { name: 'namedParams', type: 'text', placeholder: 'parameters: name=value, …', 'aria-label': 'Named query parameters' })),
    h('label', {}, h('input', { type: 'radio', name: 'which', value: 'where' }), ' the devices a SPARQL SELECT names: ',
      h('input', { name: 'where', type: 'text', placeholder: 'SELECT ?d WHERE { ?d seam:board … }', 'aria-label': 'SPARQL SELECT' }))),
  h('fieldset', {}, h('legend', {}, 'Rules'),
    h('label', {}, 'Canary, % of the devices ', h('input', { name: 'canaryPct', type: 'number', min: 0, max: 100, step: 'any', value: 10 })),
    h('label', {}, 'Halt above failures, % of a group ', h('input', { name: 'errorThresholdPct', type: 'number', min: 0, max: 100, step: 'any', value: 20 })),
    h('label', {}, 'Next group at installs, % ', h('input', { name: 'successThresholdPct', type: 'number', min: 0, max: 100, step: 'any', value: 100 })),
    h('label', {}, 'Wave size (devices) ', h('input', { name: 'waveSize', type: 'number', min: 1, placeholder: 'all the rest' })),
    h('label', {}, 'Deliveries at once ', h('input', { name: 'concurrency', type: 'number', min: 1, max: 1024, value: 16 })),
    h('label', {}, h('input', { name: 'rollback', type: 'checkbox', checked: true }), ' roll back on a halt')),
  h('button', { type: 'submit' }, 'Start rollout'),
  message);

  fill(main,
    h('h1', {}, 'Rollouts'),
    table([
      { title: 'Rollout', cell: (r) => link(to.rollout(r.id), r.id) },
      { title: 'Model', cell: (r) => r.modelName },
      { title: 'State', cell: (r) => stateChip(r.state) },
      { title: 'Devices', cell: (r) => h('span', {}, h('progress', { max: total(r.counts) || 1, value: done(r.counts), 'aria-label': `${done(r.counts)} of ${total(r.counts)} final` }), ' ', countsText(r.counts)) },
      { title: 'Started', cell: (r) => ago(r.started) },
      { title: 'Why', cell: (r) => r.reason },
    ], [...rollouts].reverse(), { caption: 'Newest first', empty: 'No rollout yet.' }),
    form);
}

export async function rolloutView(main, _params, id) {
  let { rollout } = await gql(ONE, { id });
  if (!rollout) {
    fill(main, h('h1', {}, 'No such rollout'), h('p', {}, link('rollouts', 'Back to the rollouts')));
    return null;
  }
  const devices = new Map(rollout.devices.map((d) => [d.device, d]));
  const summary = h('section', { 'aria-label': 'Progress' });
  const deviceBox = h('section', { 'aria-label': 'Devices' });
  const message = h('p', { role: 'status', class: 'muted' });
  let counts = rollout.counts;
  let state = rollout.state;

  const act = async (what) => {
    try {
      const data = await gql(ACT[what], { id });
      const changed = Object.values(data)[0];
      state = changed.state;
      fill(message, `${what}: the rollout is ${state}`);
      if (what === 'retry' && !stop) listen();
      drawSummary();
    } catch (error) {
      fill(message, h('span', { class: 'problem', role: 'alert' }, String(error.message)));
    }
  };

  function drawSummary() {
    const all = total(counts);
    const final = done(counts);
    fill(summary,
      h('p', {}, 'State: ', stateChip(state), rollout.reason ? ` — ${rollout.reason}` : ''),
      h('p', {}, h('progress', { max: all || 1, value: final, id: 'rollout-progress', 'aria-label': 'Devices in a final state' }),
        ` ${count(final)} of ${count(all)} devices final`),
      h('ul', { class: 'chips', 'aria-label': 'Devices per state' }, counts.filter((c) => c.devices).map((c) => h('li', { 'data-state': c.state }, stateChip(c.state), ` ${count(c.devices)}`))),
      h('div', { class: 'actions' },
        h('button', { type: 'button', disabled: state !== 'running', onclick: () => act('pause') }, 'Pause'),
        h('button', { type: 'button', disabled: state !== 'paused', onclick: () => act('resume') }, 'Resume'),
        h('button', { type: 'button', disabled: ENDED.has(state), onclick: () => act('cancel') }, 'Cancel'),
        h('button', { type: 'button', disabled: !(ENDED.has(state) && counts.some((c) => c.state === 'failed' && c.devices)), onclick: () => act('retry') }, 'Retry the failed')),
      message);
  }

  function drawDevices() {
    const list = [...devices.values()];
    const failures = list.filter((d) => d.state === 'failed' || d.state === 'rollback-failed');
    fill(deviceBox,
      h('h2', {}, 'Groups'),
      table([
        { title: 'Group', cell: (g) => (g.group === 0 ? 'canary' : `wave ${g.group}`) },
        { title: 'Devices', class: 'num', cell: (g) => count(g.devices) },
        // Live from the devices' events; the record's own counts for what the page does not list.
        { title: 'States', cell: (g) => countsText(list.length >= total(counts) ? list.filter((d) => d.group === g.group).reduce((acc, d) => {
          const c = acc.find((x) => x.state === d.state);
          if (c) c.devices += 1; else acc.push({ state: d.state, devices: 1 });
          return acc;
        }, []) : g.counts) },
      ], rollout.groups),
      h('h2', {}, `Failures (${failures.length})`),
      table([
        { title: 'Device', cell: (d) => link(to.device(d.deviceIri), d.device) },
        { title: 'State', cell: (d) => stateChip(d.state) },
        { title: 'Why', cell: (d) => d.reason },
      ], failures, { empty: 'No failure.' }),
      h('h2', {}, 'Packages built'),
      table([
        { title: 'Board', cell: (b) => local(b.board) || '—' },
        { title: 'Runtime', cell: (b) => local(b.runtime) },
        { title: 'How', cell: (b) => b.via },
        { title: 'Devices', class: 'num', cell: (b) => count(b.devices) },
        { title: 'Artifact', cell: (b) => (b.artifact ? h('code', { title: b.artifact }, b.artifact.slice(0, 12)) : b.error || '—') },
      ], rollout.builds, { empty: 'Nothing built yet.' }),
      h('h2', {}, 'Devices'),
      table([
        { title: 'Device', cell: (d) => link(to.device(d.deviceIri), d.device) },
        { title: 'Board', cell: (d) => local(d.board) || '—' },
        { title: 'Group', class: 'num', cell: (d) => (d.group === null ? '—' : String(d.group)) },
        { title: 'State', cell: (d) => stateChip(d.state) },
        { title: 'Why', cell: (d) => d.reason },
      ], list.slice(0, 1000), { caption: list.length > 1000 ? `The first 1,000 of ${count(list.length)}` : undefined }));
  }

  let stop = null;
  let redraw = 0;
  function listen() {
    stop = subscribe(EVENTS, { id }, {
      next: (data) => {
        const e = data.rolloutEvents;
        counts = e.counts;
        state = e.state;
        if (e.device && devices.has(e.device)) {
          const d = devices.get(e.device);
          d.state = e.deviceState || d.state;
          d.reason = e.reason || d.reason;
        }
        // Events come in bursts (one per device and step): draw at most once a frame.
        cancelAnimationFrame(redraw);
        redraw = requestAnimationFrame(() => {
          drawSummary();
          drawDevices();
        });
        if (ENDED.has(state)) announce(`Rollout ${state}`);
      },
      error: (error) => fill(message, h('span', { class: 'problem', role: 'alert' }, `Live updates stopped: ${error.message}`)),
      complete: async () => {
        stop = null;
        // The stream ends with the rollout: read the final record (reasons, builds, timings).
        rollout = (await gql(ONE, { id })).rollout || rollout;
        counts = rollout.counts;
        state = rollout.state;
        rollout.devices.forEach((d) => devices.set(d.device, d));
        drawSummary();
        drawDevices();
      },
    });
  }

  fill(main,
    h('p', { class: 'crumbs' }, link('rollouts', 'Rollouts'), ' › ', id),
    h('h1', {}, `Rollout of ${rollout.modelName}`),
    h('p', {}, link(to.model(rollout.model), rollout.modelName), ` · started `, ago(rollout.started), rollout.ended ? [' · ended ', ago(rollout.ended)] : null),
    summary,
    deviceBox);
  drawSummary();
  drawDevices();
  listen();
  return () => {
    cancelAnimationFrame(redraw);
    if (stop) stop();
  };
}
