// The compatibility matrix: boards (each counting its devices per verdict) or devices, by a
// window of models. Rows are paged on the server and, for devices, rendered only where the
// viewport is (a fleet of 10,000 devices is 10,000 rows, of which some twenty are on screen).
// A cell opens its reasons.
import { gql } from '../api.js';
import { h, fill, link, to, local, count, verdict } from '../ui.js';

const GRID = `query Grid($rows: MatrixRows!, $board: String, $rowOffset: Int!, $rowLimit: Int!, $modelOffset: Int!, $modelLimit: Int!) {
  compatibilityMatrix(rows: $rows, board: $board, rowOffset: $rowOffset, rowLimit: $rowLimit,
                      modelOffset: $modelOffset, modelLimit: $modelLimit) {
    totalRows totalModels models { model name } rows { key label board devices cells { asIs int8 no } }
  }
}`;

const WHY = `query Why($id: String!) {
  compatibleModels(device: $id, explain: true) {
    board
    compatible { model name via runtime ramBytes flashBytes estimatedLatencyMs }
    rejected { model name reasons { constraint message } }
  }
}`;

const ROW_HEIGHT = 36;
const CHUNK = 200;
const COLUMNS = 12;

function cellClass(c, devices) {
  if (c.asIs === devices) return 'asis';
  if (c.asIs + c.int8 === devices) return 'int8';
  if (c.no === devices) return 'no';
  return 'mixed';
}

function cellText(c, devices) {
  if (devices === 1) return c.asIs ? 'as-is' : c.int8 ? 'int8' : 'no';
  const parts = [];
  if (c.asIs) parts.push(`${count(c.asIs)} as-is`);
  if (c.int8) parts.push(`${count(c.int8)} int8`);
  if (c.no) parts.push(`${count(c.no)} no`);
  return parts.join(' · ') || '—';
}

export async function matrixView(main, params) {
  const mode = params.get('rows') === 'devices' ? 'DEVICES' : 'BOARDS';
  const board = params.get('board') || null;
  const modelOffset = Math.max(0, Number(params.get('models') || 0) | 0);
  const base = { rows: mode, board, modelOffset, modelLimit: COLUMNS };

  const first = (await gql(GRID, { ...base, rowOffset: 0, rowLimit: mode === 'BOARDS' ? 500 : CHUNK })).compatibilityMatrix;
  const models = first.models;
  const rows = new Map(first.rows.map((r, i) => [i, r]));
  const loading = new Set();

  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '' || v === undefined) next.delete(k); else next.set(k, v);
    }
    location.hash = `#/matrix?${next}`;
  };

  const detail = h('section', { class: 'detail', 'aria-live': 'polite', 'aria-label': 'Why' },
    h('p', { class: 'muted' }, 'Choose a cell to see why.'));

  async function explain(row, m) {
    const model = models[m];
    fill(detail, h('p', { class: 'muted' }, 'Loading…'));
    const key = row.devices === 1 && mode === 'DEVICES' ? row.key : row.board;
    if (!key) {
      fill(detail, h('p', {}, 'These devices name no board: SEAM cannot judge them.'));
      return;
    }
    try {
      const report = (await gql(WHY, { id: key })).compatibleModels;
      const fit = report.compatible.find((c) => c.model === model.model);
      const rejected = (report.rejected || []).find((r) => r.model === model.model);
      const cell = row.cells[m];
      fill(detail,
        h('h2', {}, `${model.name} on ${row.label}`),
        mode === 'BOARDS' ? h('p', {}, `${count(row.devices)} devices of this board: ${cellText(cell, row.devices)}. `,
          'The verdict below is the board’s own (its datasheet memory, nothing reserved); devices differ by the memory their firmware leaves free and the sensors attached to them. ',
          link(`matrix?rows=devices&board=${encodeURIComponent(row.board)}`, 'See its devices')) : null,
        fit ? h('p', {}, verdict(fit.via), ` on ${local(fit.runtime)}: ${count(fit.ramBytes)} B of RAM, ${count(fit.flashBytes)} B of flash`,
          fit.estimatedLatencyMs !== null ? `, about ${fit.estimatedLatencyMs.toFixed(1)} ms per inference` : '', '.') : null,
        rejected ? h('ul', { class: 'reasons' }, rejected.reasons.map((x) => h('li', {}, h('span', { class: 'constraint' }, x.constraint), ' ', x.message))) : null,
        mode === 'DEVICES' ? h('p', {}, link(to.device(row.key), `Open ${row.label}`), ' · ', link(to.model(model.model), `Open ${model.name}`)) : null);
    } catch (e) {
      fill(detail, h('p', { class: 'problem', role: 'alert' }, String(e.message)));
    }
  }

  function rowNode(row, index) {
    return h('tr', { style: `height:${ROW_HEIGHT}px`, 'aria-rowindex': index + 2 },
      h('th', { scope: 'row' }, mode === 'DEVICES'
        ? link(to.device(row.key), row.label)
        : link(`matrix?rows=devices&board=${encodeURIComponent(row.board || '')}`, row.label), mode === 'BOARDS' ? h('span', { class: 'muted' }, ` ${count(row.devices)}`) : null),
      row.cells.map((c, m) => h('td', {},
        h('button', {
          type: 'button',
          class: `cell ${cellClass(c, row.devices)}`,
          'aria-label': `${models[m].name} on ${row.label}: ${cellText(c, row.devices)}`,
          onclick: () => explain(row, m),
        }, cellText(c, row.devices)))));
  }

  const body = h('tbody');
  const head = h('thead', {}, h('tr', { 'aria-rowindex': 1 },
    h('th', { scope: 'col' }, mode === 'DEVICES' ? 'Device' : 'Board (devices)'),
    models.map((m) => h('th', { scope: 'col' }, link(to.model(m.model), m.name)))));
  const viewport = h('div', { class: 'viewport', tabindex: '0', 'aria-label': 'Matrix rows (scroll)' },
    h('table', { class: 'matrix', 'aria-rowcount': first.totalRows + 1 }, head, body));

  async function ensure(from, to) {
    for (let chunk = Math.floor(from / CHUNK); chunk * CHUNK < Math.min(to, first.totalRows); chunk += 1) {
      if (rows.has(chunk * CHUNK) || loading.has(chunk)) continue;
      loading.add(chunk);
      const page = (await gql(GRID, { ...base, rowOffset: chunk * CHUNK, rowLimit: CHUNK })).compatibilityMatrix;
      page.rows.forEach((r, i) => rows.set(chunk * CHUNK + i, r));
      loading.delete(chunk);
      draw();
    }
  }

  function draw() {
    const total = first.totalRows;
    const visible = Math.ceil(viewport.clientHeight / ROW_HEIGHT) || 20;
    const top = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - 10);
    const bottom = Math.min(total, top + visible + 20);
    const missing = [];
    const nodes = [];
    nodes.push(h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${top * ROW_HEIGHT}px` }));
    for (let i = top; i < bottom; i += 1) {
      const row = rows.get(i);
      if (row) nodes.push(rowNode(row, i));
      else {
        missing.push(i);
        nodes.push(h('tr', { style: `height:${ROW_HEIGHT}px` }, h('td', { colspan: models.length + 1, class: 'muted' }, 'Loading…')));
      }
    }
    nodes.push(h('tr', { class: 'spacer', 'aria-hidden': 'true', style: `height:${(total - bottom) * ROW_HEIGHT}px` }));
    body.replaceChildren(...nodes);
    if (missing.length) ensure(missing[0], missing[missing.length - 1] + 1);
  }
  let frame = 0;
  viewport.addEventListener('scroll', () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(draw);
  });

  const boards = mode === 'DEVICES' ? (await gql('{ boards { id label } }')).boards : [];
  fill(main,
    h('h1', {}, 'Compatibility matrix'),
    h('p', { class: 'muted' }, 'Every model against every device, judged on RAM, flash, sensors, operators, data types and runtimes, with 10 % headroom. ',
      h('span', { class: 'verdict asis' }, 'as-is'), ' runs as it is, ', h('span', { class: 'verdict int8' }, 'int8'), ' through its int8 variant, ',
      h('span', { class: 'verdict no' }, 'no'), ' does not run, ', h('span', { class: 'verdict mixed' }, 'mixed'), ' differs between a board’s devices.'),
    h('form', { class: 'filters', onsubmit: (e) => e.preventDefault() },
      h('fieldset', {}, h('legend', {}, 'Rows'),
        h('label', {}, h('input', { type: 'radio', name: 'rows', value: 'boards', checked: mode === 'BOARDS', onchange: () => go({ rows: null, board: null }) }), ' boards'),
        h('label', {}, h('input', { type: 'radio', name: 'rows', value: 'devices', checked: mode === 'DEVICES', onchange: () => go({ rows: 'devices' }) }), ' devices')),
      mode === 'DEVICES' ? h('label', {}, 'Board ', h('select', { onchange: (e) => go({ board: e.target.value }) },
        h('option', { value: '' }, 'any'),
        boards.map((b) => h('option', { value: b.id, selected: b.id === board }, b.label || local(b.id))))) : null,
      h('span', { class: 'window' }, `Models ${first.totalModels ? modelOffset + 1 : 0}–${modelOffset + models.length} of ${count(first.totalModels)} `,
        modelOffset > 0 ? h('button', { type: 'button', onclick: () => go({ models: Math.max(0, modelOffset - COLUMNS) || null }) }, '← Models') : null,
        modelOffset + models.length < first.totalModels ? h('button', { type: 'button', onclick: () => go({ models: modelOffset + COLUMNS }) }, 'Models →') : null)),
    h('p', {}, `${count(first.totalRows)} ${mode === 'DEVICES' ? 'devices' : 'boards'}`),
    first.totalRows && models.length ? viewport : h('p', { class: 'muted' }, 'Nothing to match yet: load devices and models.'),
    detail);
  draw();
  return () => cancelAnimationFrame(frame);
}

