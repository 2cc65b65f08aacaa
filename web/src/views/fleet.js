// The fleet: devices by board and status, what each runs, filtered and searched, paged on the
// server (a page is one GraphQL request however large the fleet).
import { gql } from '../api.js';
import { h, fill, link, to, status, ago, bytes, count, local, table } from '../ui.js';

const PAGE = 100;

const QUERY = `query Fleet($filter: DeviceFilter, $first: Int, $after: String) {
  fleetSummary(filter: $filter) { devices online offline unknown boards { board label devices } }
  devices(filter: $filter, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id shortName label status lastSeen freeRamBytes freeFlashBytes firmwareVersion
            board { id label } runs { sha256 model modelName installedAt } }
  }
}`;

const BOARDS = `{ boards { id label } }`;

function runs(device) {
  if (!device.runs.length) return h('span', { class: 'muted' }, 'nothing from SEAM');
  return device.runs.map((a) => h('div', {},
    a.model ? link(to.model(a.model), a.modelName || local(a.model)) : h('span', {}, 'unknown model'),
    ' ', h('code', { title: a.sha256 || '' }, (a.sha256 || '').slice(0, 8)),
    a.installedAt ? [' since ', ago(a.installedAt)] : null));
}

export async function fleetView(main, params) {
  const filter = {
    board: params.get('board') || null,
    status: params.get('status') || null,
    search: params.get('q') || null,
  };
  const cursors = (params.get('pages') || '').split(',').filter(Boolean);
  const after = cursors.length ? cursors[cursors.length - 1] : null;
  const [data, boards] = await Promise.all([
    gql(QUERY, { filter, first: PAGE, after }),
    gql(BOARDS),
  ]);
  const s = data.fleetSummary;
  const page = data.devices;

  const go = (changes) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v); else next.delete(k);
    }
    location.hash = `#/fleet?${next}`;
  };
  const form = h('form', {
    class: 'filters',
    role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      const f = new FormData(e.target);
      go({ q: f.get('q').trim(), board: f.get('board'), status: f.get('status'), pages: '' });
    },
  },
  h('label', {}, 'Search ', h('input', { name: 'q', type: 'search', value: filter.search || '', placeholder: 'name, label, location' })),
  h('label', {}, 'Board ', h('select', { name: 'board' },
    h('option', { value: '' }, 'any'),
    boards.boards.map((b) => h('option', { value: b.id, selected: b.id === filter.board }, b.label || local(b.id))))),
  h('label', {}, 'Status ', h('select', { name: 'status' },
    h('option', { value: '' }, 'any'),
    ['ONLINE', 'OFFLINE', 'UNKNOWN'].map((v) => h('option', { value: v, selected: v === filter.status }, v.toLowerCase())))),
  h('button', { type: 'submit' }, 'Filter'),
  (filter.board || filter.status || filter.search) ? h('a', { href: '#/fleet', class: 'clear' }, 'Clear') : null);

  const first = cursors.length * PAGE;
  const shown = page.nodes.length;
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of devices' },
    h('span', {}, shown ? `${count(first + 1)}–${count(first + shown)} of ${count(s.devices)}` : `0 of ${count(s.devices)}`),
    cursors.length ? h('button', { type: 'button', onclick: () => go({ pages: cursors.slice(0, -1).join(',') }) }, '← Previous') : null,
    page.pageInfo.hasNextPage ? h('button', { type: 'button', onclick: () => go({ pages: [...cursors, page.pageInfo.endCursor].join(',') }) }, 'Next →') : null);

  fill(main,
    h('h1', {}, 'Fleet'),
    h('section', { class: 'cards', 'aria-label': 'Fleet at a glance' },
      h('div', { class: 'card' }, h('span', { class: 'big' }, count(s.devices)), 'devices'),
      h('div', { class: 'card' }, h('span', { class: 'big' }, count(s.online)), 'online'),
      h('div', { class: 'card' }, h('span', { class: 'big' }, count(s.offline)), 'offline'),
      h('div', { class: 'card' }, h('span', { class: 'big' }, count(s.unknown)), 'status unknown')),
    h('section', { 'aria-label': 'Devices per board', class: 'boards' },
      h('h2', {}, 'By board'),
      h('ul', { class: 'chips' }, s.boards.map((b) => h('li', {},
        h('a', { href: `#/fleet?board=${encodeURIComponent(b.board || '')}` }, `${b.label || (b.board ? local(b.board) : 'no board')}: ${count(b.devices)}`))))),
    form,
    table([
      { title: 'Device', cell: (d) => link(to.device(d.id), d.shortName || d.label || local(d.id)) },
      { title: 'Board', cell: (d) => (d.board ? d.board.label || local(d.board.id) : h('span', { class: 'muted' }, 'unknown')) },
      { title: 'Status', cell: (d) => status(d.status) },
      { title: 'Last seen', cell: (d) => ago(d.lastSeen) },
      { title: 'Runs', cell: runs },
      { title: 'Free RAM', class: 'num', cell: (d) => bytes(d.freeRamBytes) },
      { title: 'Free flash', class: 'num', cell: (d) => bytes(d.freeFlashBytes) },
    ], page.nodes, { caption: 'Devices', empty: 'No device matches.' }),
    pager);
}
