// The planners' map page: wires the base map, the catalogue panel, popups, the choropleth, the
// language switch and the shareable URL, and measures the first render (window.__perf).
import { absolute, authorised, onAuthChange, sessionToken, setSessionToken } from './api.js';
import { addBaseLayers, backgroundLayers, baseStyle, loadBoundaries } from './basemap.js';
import { CataloguePanel } from './catalogue.js';
import { Choropleth } from './choropleth.js';
import { parseHash, writeHash } from './hash.js';
import { initialLang, lang, onLangChange, setLang, t, titleOf } from './i18n.js';
import { LayerManager } from './layers.js';
import { Popups } from './popup.js';
import { boundaries, config, firstAt, initial, longTasks } from './preload.js';
import { SignIn } from './signin.js';

performance.mark('map:start');

const maplibregl = window.maplibregl;
setLang(initialLang(initial.lang), { remember: false });
// The CSP build runs its worker from our own origin (worker-src 'self'); no blob: code needed.
maplibregl.setWorkerUrl(absolute(document.body.dataset.workerUrl));
// Start the workers now: they load and parse their script while the map sets up WebGL.
maplibregl.prewarm();
const prefetched = boundaries;

const mapStatus = document.getElementById('map-status');
const boundary = { at: null, level: 'ward', source: null, count: 0, pending: null };
let restoring = false;

function controlLocale() {
  return {
    'NavigationControl.ZoomIn': lang() === 'vi' ? 'Phóng to' : 'Zoom in',
    'NavigationControl.ZoomOut': lang() === 'vi' ? 'Thu nhỏ' : 'Zoom out',
    'NavigationControl.ResetBearing': lang() === 'vi' ? 'Quay về hướng bắc' : 'Reset bearing to north',
    'AttributionControl.ToggleAttribution': lang() === 'vi' ? 'Nguồn dữ liệu' : 'Toggle attribution',
  };
}

/**
 * Every request MapLibre makes (style, TileJSON, tiles, GeoJSON): server-relative URLs made absolute
 * (workers need them), and the session's token on requests to our own API, read at each request so
 * that a sign-in or sign-out applies to every tile asked for from then on.
 */
function transformRequest(url) {
  const target = new URL(url, window.location.origin);
  const token = sessionToken();
  if (!token || target.origin !== window.location.origin || target.pathname.startsWith('/static/')) {
    return { url: target.href };
  }
  return { url: target.href, ...authorised(token) };
}

const map = new maplibregl.Map({
  container: 'map',
  style: config.basemapStyleUrl || baseStyle(),
  center: initial.center,
  zoom: initial.zoom,
  attributionControl: false,
  locale: controlLocale(),
  transformRequest,
});
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'top-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
map.keyboard.enable();

const manager = new LayerManager(map, { onChange: () => { panel.renderActive(); updateAttribution(); saveView(); } });
const panel = new CataloguePanel(manager, toggleLayer);
const popups = new Popups(map, manager, () => choropleth.boundaryDate());
const choropleth = new Choropleth(map, config, showBoundaries, saveView);
const signin = new SignIn();
// Handles for the browser tests and for debugging from the console.
window.__gis = { map, manager, panel, choropleth, popups, signin };

// --- attribution: every visible layer's attribution and licence, plus the boundary source -------
let attribution = null;
const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const isOsm = (m) => /openstreetmap|\bosm\b|odbl/i.test(`${m.slug} ${m.attribution} ${m.licence}`);

/** "text (licence)", unless the text names its licence already. */
const withLicence = (text, licence) => (licence && !text.includes(licence) ? `${text} (${licence})` : text);

/** The attribution lines (plain text) for what is on the map now; each source is named once. */
function attributionLines() {
  const lines = [];
  const metas = manager.visibleMeta();
  if (metas.some(isOsm) && !metas.some((m) => /openstreetmap/i.test(m.attribution || ''))) {
    lines.push('© OpenStreetMap contributors');
  }
  if (boundary.source) {
    // The boundary sets carry their own label ("Boundaries: …"); ours replaces it, in the page's language.
    const text = String(boundary.source.attribution || '').replace(/^[^:()/]{1,40}:\s+/, '');
    lines.push(`${t('attr.boundaries')}: ${withLicence(text, boundary.source.licence)}`);
  }
  for (const meta of metas) {
    const extra = [meta.licence, meta.synthetic ? t('badge.synthetic') : null].filter(Boolean).join(', ');
    lines.push(`${titleOf(meta)}: ${meta.attribution || '?'}${extra ? ` (${extra})` : ''}`);
  }
  return [...new Set(lines)];
}

/** MapLibre renders customAttribution as HTML: escape it, and re-create the control to sync it. */
function updateAttribution() {
  if (attribution) map.removeControl(attribution);
  attribution = new maplibregl.AttributionControl({ compact: false, customAttribution: attributionLines().map(escapeHtml) });
  map.addControl(attribution, 'bottom-right');
}

// --- boundaries --------------------------------------------------------------------------------
/** Draw the boundaries valid on `at` (once per date); resolves to {level}. */
async function showBoundaries(at) {
  if (boundary.at === at && boundary.pending) return boundary.pending;
  boundary.at = at;
  const fetched = prefetched.at === at ? prefetched.promise : null;
  prefetched.at = null;
  boundary.pending = loadBoundaries(map, at, fetched).then((result) => {
    Object.assign(boundary, result, { source: null });
    result.source.then((source) => {
      if (boundary.at === at) boundary.source = source;
      updateAttribution();
    });
    return result;
  }).catch((error) => {
    mapStatus.textContent = `${t('map.error')}: ${error.message}`;
    return { level: 'ward' };
  });
  return boundary.pending;
}

// --- layers ------------------------------------------------------------------------------------
async function toggleLayer(meta, on) {
  if (!on) {
    manager.remove(meta.slug);
  } else if (!manager.has(meta.slug)) {
    panel.setStatus(t('cat.loading', { name: titleOf(meta) }));
    try {
      await manager.add(meta);
      // Signed out while it loaded: an internal layer is not the caller's to see any more.
      if (meta.visibility === 'internal' && !sessionToken()) manager.remove(meta.slug);
      panel.setStatus('');
    } catch (error) {
      panel.setStatus(`${t('cat.layerError', { name: titleOf(meta) })}: ${error.message}`, true);
    }
  }
  panel.syncCheckbox(meta.slug);
}

/** Layers asked for (by a shared URL) that could not be shown: tried again after a sign-in. */
const unavailable = new Set();

/** Show exactly `slugs` (top-most first): load the missing ones in parallel, then restack. */
async function showLayers(slugs) {
  for (const slug of manager.slugs()) if (!slugs.includes(slug)) manager.remove(slug);
  const metas = await Promise.all(slugs.map((slug) => panel.meta(slug)));
  const results = await Promise.allSettled(metas.map((meta) => manager.add(meta)));
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') unavailable.delete(slugs[i]);
    else {
      unavailable.add(slugs[i]);
      panel.setStatus(t('cat.layerError', { name: titleOf(metas[i]) }), true);
    }
  });
  manager.order = slugs.filter((slug) => manager.has(slug));
  manager.applyOrder();
  panel.renderActive();
  slugs.forEach((slug) => panel.syncCheckbox(slug));
  updateAttribution();
}

// --- the URL keeps the view ----------------------------------------------------------------------
function currentView() {
  const center = map.getCenter();
  return {
    center: [center.lng, center.lat], zoom: map.getZoom(), layers: manager.slugs(),
    ...choropleth.view(), lang: lang(),
  };
}

function saveView() {
  if (!restoring) writeHash(currentView());
}

async function restoreView(view) {
  restoring = true;
  try {
    if (view.lang && view.lang !== lang()) setLang(view.lang, { remember: false });
    if (view.center) map.jumpTo({ center: view.center, zoom: view.zoom });
    await Promise.all([showLayers(view.layers || []), choropleth.restore(view)]);
  } finally {
    restoring = false;
  }
  saveView();
}

map.on('moveend', saveView);
// A URL pasted into the same tab (our own writes use replaceState, which fires no hashchange).
window.addEventListener('hashchange', () => restoreView(parseHash(window.location.hash)));

map.on('error', (event) => {
  // A token revoked while the map is open: its tiles answer 401; fall back to anonymous.
  if (event.error && event.error.status === 401 && sessionToken()) {
    setSessionToken('', 'rejected');
    return;
  }
  // Shown on the page rather than thrown: a missing tile must not break the rest of the map.
  const message = (event.error && event.error.message) || 'error';
  mapStatus.textContent = `${t('map.error')}: ${message}`;
  console.warn('map error:', message);
});

// --- sign-in: what the caller may see changed ---------------------------------------------------
onAuthChange(async ({ signedIn }) => {
  panel.forget();
  if (!signedIn) {
    // Internal layers are no longer the caller's to see: off the map, tiles and all.
    for (const meta of manager.visibleMeta()) if (meta.visibility === 'internal') manager.remove(meta.slug);
  }
  await panel.search(); // the list as the new caller sees it (a rejected token shows up here as 401)
  if (signedIn && sessionToken() && unavailable.size) {
    await showLayers([...manager.slugs(), ...[...unavailable].filter((slug) => !manager.has(slug))]);
    saveView();
  }
});

// --- language ----------------------------------------------------------------------------------
document.getElementById('lang-switch').addEventListener('click', () => setLang(lang() === 'vi' ? 'en' : 'vi'));
onLangChange(() => {
  panel.relabel();
  signin.relabel();
  choropleth.relabel();
  updateAttribution();
  const locale = controlLocale();
  for (const [cls, key] of [['zoom-in', 'ZoomIn'], ['zoom-out', 'ZoomOut']]) {
    const button = document.querySelector(`.maplibregl-ctrl-${cls}`);
    if (button) {
      button.title = locale[`NavigationControl.${key}`];
      button.setAttribute('aria-label', locale[`NavigationControl.${key}`]);
    }
  }
  saveView();
});

// --- start -------------------------------------------------------------------------------------
// The panels need no map: they fill in while MapLibre sets up (their data is prefetched).
const catalogueReady = panel.init().catch(() => null);
const indicatorsReady = choropleth.init().catch(() => null);

// 'style.load', not 'load': the data goes in as soon as the style can take it, without waiting for
// the workers and a first frame of an empty map.
map.once('style.load', async () => {
  performance.mark('map:style-loaded');
  if (config.basemapStyleUrl) addBaseLayers(map);
  updateAttribution();
  // Everything in parallel: boundaries, catalogue (+ water/roads background), indicators then the view.
  const mark = (name) => () => performance.mark(name);
  await Promise.all([
    showBoundaries(firstAt).then(mark('map:boundaries')),
    catalogueReady.then(async () => {
      for (const meta of backgroundLayers(panel.results)) await manager.add(meta, { base: true }).catch(() => null);
    }).catch(() => null).then(mark('map:catalogue')),
    indicatorsReady.then(() => restoreView(initial)).then(mark('map:view')),
  ]);
  performance.mark('map:data-added');
  map.once('idle', () => {
    performance.mark('map:rendered');
    const measure = performance.measure('map:first-render', { start: 0, end: 'map:rendered' });
    const script = performance.measure('map:first-render-since-script', 'map:start', 'map:rendered');
    window.__perf = {
      firstRenderMs: Math.round(measure.duration),
      sinceScriptMs: Math.round(script.duration),
      layers: manager.slugs().length,
      boundaries: boundary.count,
      boundaryLevel: boundary.level,
      // The page's own marks (ms since navigation): script start, style loaded, data added, rendered.
      marks: Object.fromEntries(performance.getEntriesByType('mark').filter((m) => m.name.startsWith('map:'))
        .map((m) => [m.name, Math.round(m.startTime)])),
      longTasks: [...longTasks],
    };
    document.body.dataset.ready = 'true';
  });
  map.triggerRepaint();
});
