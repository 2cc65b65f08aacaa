// One device: its facts, its sensors, what it runs, the models that run on it ranked, and the
// models that do not with every reason (the `seam match --explain` report).
import { gql } from '../api.js';
import { h, fill, link, to, status, ago, bytes, local, table, facts, verdict } from '../ui.js';

const QUERY = `query Device($id: String!) {
  device(id: $id) {
    id shortName label location status lastSeen freeRamBytes freeFlashBytes runtime firmwareVersion
    board { id label core clockHz ramBytes flashBytes sensors { id label kind sampleRateHz rangeMin rangeMax } }
    sensors { id label kind sampleRateHz rangeMin rangeMax }
    runs { sha256 model modelName backend installedAt rollout sizeBytes }
  }
}`;

const MATCH = `query Match($id: String!) {
  compatibleModels(device: $id, explain: true) {
    freeRamBytes freeFlashBytes
    compatible { model name task accuracy estimatedLatencyMs ramBytes flashBytes via runtime
                 latencyAssumption { basis source macsPerCycle clockHz core } }
    rejected { model name reasons { constraint required available unit message } }
  }
}`;

function sensorTable(list, caption) {
  return table([
    { title: 'Sensor', cell: (s) => s.label || local(s.id) },
    { title: 'Kind', cell: (s) => local(s.kind) },
    { title: 'Sample rate', class: 'num', cell: (s) => (s.sampleRateHz ? `${s.sampleRateHz} Hz` : '—') },
    { title: 'Range', cell: (s) => (s.rangeMin !== null && s.rangeMax !== null ? `${s.rangeMin} … ${s.rangeMax}` : '—') },
  ], list, { caption, empty: `${caption}: none.` });
}

function share(need, free) {
  if (!free) return bytes(need);
  return [bytes(need), h('span', { class: 'muted' }, ` (${Math.round((100 * need) / free)} %)`)];
}

function latency(c) {
  if (c.estimatedLatencyMs === null) return '—';
  const a = c.latencyAssumption;
  const basis = a ? `${a.basis}: ${a.macsPerCycle} MACs/cycle at ${(a.clockHz / 1e6).toFixed(0)} MHz on ${a.core || 'the core'}${a.source ? ` (${a.source})` : ''}` : '';
  return h('span', { title: basis }, `${c.estimatedLatencyMs.toFixed(c.estimatedLatencyMs < 10 ? 2 : 0)} ms`,
    a ? h('span', { class: 'muted' }, ` ${a.basis}`) : null);
}

/** Free memory as reported, or as matching assumes it when the device reported none. */
function memory(reported, assumed, total) {
  const of = total ? ` of ${bytes(total)}` : '';
  if (reported !== null && reported !== undefined) return `${bytes(reported)} free${of} (reported)`;
  if (assumed !== null && assumed !== undefined) {
    return [`${bytes(assumed)} free${of} `, h('span', { class: 'muted' }, '(not reported: the board’s, less what its firmware reserves)')];
  }
  return total ? `${bytes(total)} in all; free unknown` : '—';
}

export async function deviceView(main, _params, id) {
  const [{ device }, match] = await Promise.all([
    gql(QUERY, { id }),
    gql(MATCH, { id }).catch((e) => ({ error: e })),
  ]);
  if (!device) {
    fill(main, h('h1', {}, 'No such device'), h('p', {}, `No device is called “${id}”. `, link('fleet', 'Back to the fleet')));
    return;
  }
  const report = match.compatibleModels || null;
  const board = device.board;
  fill(main,
    h('p', { class: 'crumbs' }, link('fleet', 'Fleet'), ' › ', device.shortName || local(device.id)),
    h('h1', {}, device.shortName || device.label || local(device.id), ' ', status(device.status)),
    facts([
      ['IRI', h('code', {}, device.id)],
      ['Label', device.label],
      ['Location', device.location],
      ['Board', board ? link(`fleet?board=${encodeURIComponent(board.id)}`, board.label || local(board.id)) : 'unknown'],
      ['Core', board && board.core ? `${board.core}${board.clockHz ? ` at ${(board.clockHz / 1e6).toFixed(0)} MHz` : ''}` : null],
      ['RAM', memory(device.freeRamBytes, report && report.freeRamBytes, board && board.ramBytes)],
      ['Flash', memory(device.freeFlashBytes, report && report.freeFlashBytes, board && board.flashBytes)],
      ['Runtime', device.runtime ? local(device.runtime) : null],
      ['Firmware', device.firmwareVersion],
      ['Last seen', ago(device.lastSeen)],
    ]),
    h('h2', {}, 'Runs'),
    table([
      { title: 'Model', cell: (a) => (a.model ? link(to.model(a.model), a.modelName || local(a.model)) : '—') },
      { title: 'Artifact', cell: (a) => h('code', { title: a.sha256 }, (a.sha256 || '').slice(0, 16)) },
      { title: 'Backend', cell: (a) => a.backend || '—' },
      { title: 'Size', class: 'num', cell: (a) => bytes(a.sizeBytes) },
      { title: 'Since', cell: (a) => ago(a.installedAt) },
      { title: 'Rollout', cell: (a) => (a.rollout ? link(to.rollout(local(a.rollout)), local(a.rollout)) : '—') },
    ], device.runs, { empty: 'Nothing SEAM delivered.' }),
    h('h2', {}, 'Sensors'),
    sensorTable(board ? board.sensors : [], 'On the board'),
    sensorTable(device.sensors, 'Attached to this device'),
    h('h2', { id: 'compatible' }, 'Models that run here'),
    match.error ? h('p', { class: 'problem', role: 'alert' }, String(match.error.message)) : [
      h('p', { class: 'muted' }, 'Ranked by accuracy, then estimated latency, then memory needed. Memory shares are of the free memory the device reported (or its board’s, less the firmware’s reservation), with 10 % headroom kept.'),
      table([
        { title: '#', class: 'num', cell: (c) => String(report.compatible.indexOf(c) + 1) },
        { title: 'Model', cell: (c) => link(to.model(c.model), c.name) },
        { title: 'How', cell: (c) => verdict(c.via) },
        { title: 'Runtime', cell: (c) => local(c.runtime) },
        { title: 'RAM', class: 'num', cell: (c) => share(c.ramBytes, report.freeRamBytes) },
        { title: 'Flash', class: 'num', cell: (c) => share(c.flashBytes, report.freeFlashBytes) },
        { title: 'Latency', class: 'num', cell: latency },
        { title: 'Accuracy', class: 'num', cell: (c) => (c.accuracy === null ? '—' : `${(100 * c.accuracy).toFixed(1)} %`) },
      ], report.compatible, { empty: 'No model runs on this device.' }),
      h('h2', { id: 'rejected' }, 'Models that do not, and why'),
      table([
        { title: 'Model', cell: (r) => link(to.model(r.model), r.name) },
        { title: 'Why not', cell: (r) => h('ul', { class: 'reasons' }, r.reasons.map((x) => h('li', {}, h('span', { class: 'constraint' }, x.constraint), ' ', x.message))) },
      ], report.rejected || [], { empty: 'Every model runs here.' }),
    ]);
}
