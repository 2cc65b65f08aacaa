// SEAM's web page: a hash router over five sections (fleet, models, matrix, rollouts, query)
// and the pages of one device, model or rollout. Every view renders into <main> and returns a
// function that stops what it started (a subscription, a timer) when another view replaces it.
import './style.css';
import { takeTokenFromLocation, token, setToken, getJson } from './api.js';
import { h, fill, problem, announce } from './ui.js';
import { fleetView } from './views/fleet.js';
import { deviceView } from './views/device.js';
import { modelsView, modelView } from './views/models.js';
import { matrixView } from './views/matrix.js';
import { rolloutsView, rolloutView } from './views/rollouts.js';

const routes = [
  [/^fleet$/, 'fleet', fleetView],
  [/^device\/(.+)$/, 'fleet', deviceView],
  [/^models$/, 'models', modelsView],
  [/^model\/(.+)$/, 'models', modelView],
  [/^matrix$/, 'matrix', matrixView],
  [/^rollouts$/, 'rollouts', rolloutsView],
  [/^rollout\/(.+)$/, 'rollouts', rolloutView],
  // The editor is most of the page's code: loaded when it is first wanted.
  [/^query$/, 'query', async (...args) => (await import('./views/query.js')).queryView(...args)],
];

let stop = null;

function parse() {
  const raw = location.hash.replace(/^#\/?/, '') || 'fleet';
  const [path, search = ''] = raw.split('?');
  return { path, params: new URLSearchParams(search) };
}

let first = true;

async function render() {
  if (stop) {
    try { stop(); } catch { /* a view that cannot stop cleanly must not block the next */ }
    stop = null;
  }
  const { path, params } = parse();
  const main = document.getElementById('main');
  const found = routes.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll('nav a[data-section]')) {
    if (found && a.dataset.section === found[1]) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!found) {
    fill(main, h('h1', {}, 'Not found'), h('p', {}, `There is no page “${path}”. `, h('a', { href: '#/fleet' }, 'Back to the fleet')));
    return;
  }
  const [re, , view] = found;
  const args = re.exec(path).slice(1).map(decodeURIComponent);
  fill(main, h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  try {
    stop = (await view(main, params, ...args)) || null;
    const title = main.querySelector('h1');
    document.title = title ? `${title.textContent} · SEAM` : 'SEAM';
    if (title) announce(`${title.textContent} loaded`);
    // After a navigation (not the first load), keyboard and screen-reader users continue from
    // the new content, not from a control that is gone.
    if (!first) main.focus({ preventScroll: true });
  } catch (error) {
    fill(main, h('h1', {}, 'Something went wrong'), problem(error));
  }
  first = false;
}

async function who() {
  const box = document.getElementById('who');
  let writable = false;
  try {
    writable = (await getJson('/health')).writable;
  } catch { /* the header shows what it can */ }
  const form = h('form', {
    class: 'token',
    onsubmit: (e) => {
      e.preventDefault();
      setToken(form.querySelector('input').value.trim());
      who();
      render();
    },
  },
  h('label', { for: 'token-input' }, token() ? 'Signed in with a token' : 'Token'),
  h('input', { id: 'token-input', type: 'password', autocomplete: 'off', placeholder: writable ? 'write token' : 'read-only server', value: token() }),
  h('button', { type: 'submit' }, token() ? 'Change' : 'Use'),
  token() ? h('button', { type: 'button', onclick: () => { setToken(''); who(); render(); } }, 'Forget') : null);
  fill(box, form);
}

takeTokenFromLocation();
// Routes are "#/…"; any other fragment is not a page (the router leaves it alone).
window.addEventListener('hashchange', () => {
  if (location.hash === '' || location.hash.startsWith('#/')) render();
});
// The skip link moves focus to the content without touching the route.
document.querySelector('a.skip').addEventListener('click', (e) => {
  e.preventDefault();
  document.getElementById('main').focus();
});
who();
render();
