// Small DOM helpers: every value from the service goes in as text, never as markup.

/** Creates an element: h('a', {href: '#/x', class: 'c'}, 'text', child, ...). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(key, '');
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `node` holds. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** Bytes as people read them (KiB, MiB: binary units, as datasheets give RAM). */
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let value = Number(n);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A count with thousands separators. */
export function count(n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString('en');
}

/** The local name of an IRI (after the last '/', '#' or ':'). */
export function local(iri) {
  if (!iri) return '';
  const at = Math.max(iri.lastIndexOf('/'), iri.lastIndexOf('#'));
  return decodeURIComponent(iri.slice(at + 1));
}

/** A time as "3 min ago" with the exact time in a title. */
export function ago(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.max(0, Math.round((Date.now() - then) / 1000));
  const text = seconds < 60 ? `${seconds} s ago`
    : seconds < 3600 ? `${Math.round(seconds / 60)} min ago`
    : seconds < 86400 ? `${Math.round(seconds / 3600)} h ago`
    : new Date(then).toISOString().slice(0, 10);
  return h('time', { datetime: iso, title: iso }, text);
}

/** A link to a page of this application. */
export function link(route, text, attrs = {}) {
  return h('a', { href: `#/${route}`, ...attrs }, text);
}

/** The route of a device, model or rollout page. */
export const to = {
  device: (iri) => `device/${encodeURIComponent(iri)}`,
  model: (iri) => `model/${encodeURIComponent(iri)}`,
  rollout: (id) => `rollout/${encodeURIComponent(id)}`,
  board: (iri) => `fleet?board=${encodeURIComponent(iri || '')}`,
};

/** A table: columns [{title, cell(row) -> node|text, class?}]. */
export function table(columns, rows, { caption, empty = 'Nothing to show.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', {},
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.title)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((c) => h('td', { class: c.class }, c.cell(row)))))));
}

/** A labelled definition list of facts; rows whose value is empty are left out. */
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

/** A status pill: online / offline / unknown, with text (never colour alone). */
export function status(value) {
  const s = String(value || 'unknown').toLowerCase();
  return h('span', { class: `pill ${s}` }, s);
}

/** A verdict pill: as-is, int8 or no. */
export function verdict(via) {
  const v = via || 'no';
  return h('span', { class: `verdict ${v === 'as-is' ? 'asis' : v}` }, v === 'no' ? 'does not run' : v);
}

/** Says `text` to screen readers. */
export function announce(text) {
  const live = document.getElementById('announce');
  if (live) live.textContent = text;
}

/** A problem shown in place of a view. */
export function problem(error) {
  return h('div', { class: 'problem', role: 'alert' }, h('strong', {}, 'Error: '), String(error.message || error));
}
