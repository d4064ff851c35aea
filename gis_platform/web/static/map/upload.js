// The GIS staff's upload page: editor token (sessionStorage), choose or create a layer, drop a file,
// follow the ingest job, read the validation report, preview, publish, and roll back.
import { absolute, ApiError, getJSON, problemText, sendJSON, TOKEN_KEY, withQuery } from './api.js';
import { baseStyle, loadBoundaries } from './basemap.js';
import { formatNumber, h, replaceChildren } from './dom.js';
import { initialLang, lang, onLangChange, setLang, t, titleOf } from './i18n.js';
import { defaultLayers, loadLayerStyle } from './layers.js';
import { renderReport } from './report.js';

const POLL_MS = 400;
/** Features of an unpublished version drawn in the preview (the API caps it too). */
const PREVIEW_LIMIT = 2000;
const $ = (id) => document.getElementById(id);
const config = JSON.parse(document.body.dataset.config || '{}');

setLang(initialLang(), { remember: false });
window.maplibregl.setWorkerUrl(absolute(document.body.dataset.workerUrl));

const state = { layers: [], categories: [], file: null, job: null, preview: null };
// A handle for the browser tests and for debugging from the console.
window.__upload = state;

// --- token -------------------------------------------------------------------------------------
const tokenInput = $('token');
try { tokenInput.value = window.sessionStorage.getItem(TOKEN_KEY) || ''; } catch { /* storage disabled */ }
tokenInput.addEventListener('input', () => {
  try { window.sessionStorage.setItem(TOKEN_KEY, tokenInput.value.trim()); } catch { /* storage disabled */ }
});
const token = () => tokenInput.value.trim();

function status(id, text, isError = false) {
  $(id).textContent = text;
  $(id).classList.toggle('error', isError);
}
const errorText = (error) => (error instanceof ApiError ? problemText(error.problem) : error.message);

// --- layers ------------------------------------------------------------------------------------
async function loadLayers(select) {
  const data = await getJSON(withQuery('/catalogue/layers', { limit: 500 }), { optional: true, token: token() })
    .catch((error) => { status('layer-status', errorText(error), true); return { layers: [] }; });
  if (data === null) {
    status('layer-status', t('up.unavailable'), true);
    return;
  }
  state.layers = data.layers || [];
  renderLayerOptions(select);
}

function renderLayerOptions(select) {
  const current = select ?? $('layer').value;
  replaceChildren($('layer'), h('option', { value: '' }, t('up.chooseLayer')),
    state.layers.map((l) => h('option', { value: l.slug }, `${titleOf(l)} (${l.slug})`)));
  $('layer').value = current || '';
}

async function loadCategories() {
  const data = await getJSON('/catalogue/categories', { optional: true }).catch(() => null);
  state.categories = (data && data.categories) || [];
  replaceChildren($('nl-category'), state.categories.map((c) => h('option', { value: c.id }, titleOf(c))));
}

$('new-layer-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v).trim()]));
  body.synthetic = $('nl-synthetic').checked;
  try {
    await sendJSON('POST', '/catalogue/layers', body, token());
    status('layer-status', t('up.created', { slug: body.slug }));
    await loadLayers(body.slug);
    $('new-layer').open = false;
    await showVersions();
  } catch (error) {
    status('layer-status', errorText(error), true);
  }
});
$('layer').addEventListener('change', () => showVersions());

// --- file: drag and drop, or the file input ----------------------------------------------------------
const drop = $('dropzone');
function chooseFile(file) {
  state.file = file || null;
  drop.textContent = file ? `${file.name} (${formatNumber(file.size / 1024, lang(), 1)} KiB)` : t('up.drop');
}
drop.addEventListener('click', () => $('file').click());
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); $('file').click(); }
});
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  chooseFile(e.dataTransfer.files[0]);
});
$('file').addEventListener('change', (e) => chooseFile(e.target.files[0]));

// --- upload, then follow the job -------------------------------------------------------------------
/** POST the file with XMLHttpRequest: fetch() cannot report upload progress. */
function postFile(slug) {
  const form = new FormData();
  form.append('file', state.file, state.file.name);
  for (const [field, id] of [['crs', 'crs'], ['encoding', 'encoding'], ['layer_name', 'layer-name']]) {
    if ($(id).value.trim()) form.append(field, $(id).value.trim());
  }
  form.append('publish', $('publish-now').checked ? 'true' : 'false');
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/catalogue/layers/${encodeURIComponent(slug)}/versions`);
    xhr.setRequestHeader('Authorization', `Bearer ${token()}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      $('progress').value = 0.2 * (e.loaded / e.total);
      status('upload-status', t('up.uploading', { pct: Math.round((100 * e.loaded) / e.total) }));
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error('network error'));
    xhr.send(form);
  });
}

const versionNumber = (job) => (job.version && typeof job.version === 'object' ? job.version.version : job.version);

async function upload() {
  const slug = $('layer').value;
  if (!token()) return status('upload-status', t('up.needToken'), true);
  if (!slug) return status('upload-status', t('up.needLayer'), true);
  if (!state.file) return status('upload-status', t('up.needFile'), true);
  $('upload').disabled = true;
  $('publish').hidden = true;
  replaceChildren($('report'));
  status('publish-status', '');
  try {
    const accepted = await postFile(slug);
    const monitor = ((accepted.links || []).find((l) => l.rel === 'monitor') || {}).href || `/jobs/${accepted.job.id}`;
    const job = await follow(monitor);
    finish(slug, job);
  } catch (error) {
    status('upload-status', errorText(error), true);
    if (error instanceof ApiError) replaceChildren($('report'), renderReport({ status: 'failed', error: error.problem }));
  } finally {
    $('upload').disabled = false;
  }
}
$('upload').addEventListener('click', upload);

/** Poll the job until it has succeeded or failed, showing its stage and progress. */
async function follow(monitor) {
  for (;;) {
    const job = await getJSON(monitor, { token: token() });
    const data = job.job || job;
    $('progress').value = 0.2 + 0.8 * Math.max(0, Math.min(1, Number(data.progress) || 0));
    if (data.status === 'succeeded' || data.status === 'failed') return data;
    status('upload-status', data.status === 'queued' ? t('up.queued') : t('up.running', { stage: data.stage || '…' }));
    await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
  }
}

function finish(slug, job) {
  state.job = { slug, ...job };
  replaceChildren($('report'), renderReport(job));
  if (job.status === 'failed') {
    $('progress').value = 0;
    status('upload-status', t('up.failed'), true);
  } else {
    $('progress').value = 1;
    const version = versionNumber(job);
    const count = (job.version && job.version.feature_count) ?? (job.report && job.report.feature_count) ?? '?';
    status('upload-status', t('up.succeeded', { version, count }));
    const published = (job.version && job.version.status === 'published') || job.publish === true;
    $('publish').hidden = published;
    $('publish').textContent = t('up.publish', { version });
    if (published) status('publish-status', t('up.published', { version }));
    preview(slug, version, job.version && job.version.bbox, published, job.version && job.version.geometry_type);
  }
  showVersions();
}

$('publish').addEventListener('click', async () => {
  const { slug } = state.job;
  const version = versionNumber(state.job);
  try {
    await sendJSON('POST', `/catalogue/layers/${encodeURIComponent(slug)}/versions/${version}/publish`, undefined, token());
    $('publish').hidden = true;
    status('publish-status', t('up.published', { version }));
    await showVersions();
    preview(slug, version, state.job.version && state.job.version.bbox, true, state.job.version && state.job.version.geometry_type);
  } catch (error) {
    status('publish-status', errorText(error), true);
  }
});

// --- versions and roll back --------------------------------------------------------------------------
async function showVersions() {
  const slug = $('layer').value;
  replaceChildren($('versions'));
  if (!slug) return;
  try {
    const data = await getJSON(`/catalogue/layers/${encodeURIComponent(slug)}`, { optional: true, token: token() });
    const layer = data ? data.layer || data : null;
    const versions = (data && (data.versions || (layer && layer.versions))) || [];
    const current = layer && layer.current_version;
    if (!versions.length) return status('versions-status', data ? t('up.noVersions') : t('up.unavailable'));
    status('versions-status', '');
    const rows = [...versions].sort((a, b) => b.version - a.version).map((v) => h('tr', { dataset: { version: String(v.version) } },
      h('td', {}, String(v.version), v.version === current ? ` (${t('up.current')})` : ''),
      h('td', {}, v.status || ''), h('td', { class: 'num' }, formatNumber(v.feature_count, lang(), 0)),
      h('td', {}, String(v.published_at || v.created_at || '').slice(0, 16).replace('T', ' ')),
      h('td', {}, current && v.version < current && ['published', 'superseded'].includes(v.status)
        ? h('button', { type: 'button', class: 'btn', onclick: () => rollback(slug, v.version) }, t('up.rollback', { version: v.version }))
        : '')));
    replaceChildren($('versions'), h('table', {},
      h('thead', {}, h('tr', {}, ...['up.version', 'up.status', 'up.features', 'up.date', 'up.action']
        .map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', {}, rows)));
  } catch (error) {
    status('versions-status', errorText(error), true);
  }
}

async function rollback(slug, version) {
  try {
    await sendJSON('POST', withQuery(`/catalogue/layers/${encodeURIComponent(slug)}/rollback`, { to: version }), undefined, token());
    status('versions-status', t('up.rolledBack', { version }));
    await showVersions();
    const versions = $('versions');
    versions.querySelector('button')?.focus();
  } catch (error) {
    status('versions-status', errorText(error), true);
  }
}

// --- preview -------------------------------------------------------------------------------------
async function previewMap() {
  if (state.preview) return state.preview;
  const map = new window.maplibregl.Map({
    container: 'preview', style: baseStyle(), center: config.defaultView.center, zoom: 9,
    attributionControl: false, transformRequest: (url) => ({ url: absolute(url) }),
  });
  await new Promise((resolve) => { map.once('load', resolve); });
  await loadBoundaries(map, config.boundaryDates.after).catch(() => null);
  state.preview = map;
  return map;
}

/**
 * The first features of a validated, unpublished version, from the editors-only preview API:
 * {sources, layers, note} in the shape of loadLayerStyle(), drawn with the default style.
 */
async function draftLayers(slug, version, geometryType) {
  const url = withQuery(`/catalogue/layers/${encodeURIComponent(slug)}/versions/${version}/preview.geojson`, { limit: PREVIEW_LIMIT });
  const data = await getJSON(url, { token: token() });
  const shown = (data.features || []).length;
  const note = t('up.previewDraft', { version, shown: formatNumber(shown, lang(), 0), count: formatNumber(data.numberMatched ?? shown, lang(), 0) });
  return { sources: { draft: { type: 'geojson', data } }, layers: defaultLayers(slug, geometryType, 'draft'), note };
}

/** Draw the new version: its extent (bbox) at once, then its data (the draft before publishing). */
async function preview(slug, version, bbox, published, geometryType) {
  const map = await previewMap();
  for (const layer of map.getStyle().layers) if (layer.id.startsWith('pv:')) map.removeLayer(layer.id);
  for (const id of Object.keys(map.getStyle().sources)) if (id.startsWith('pv:')) map.removeSource(id);
  const meta = state.layers.find((l) => l.slug === slug) || { slug, geometry_type: 'Geometry' };
  delete $('preview').dataset.rendered;
  let loaded = null;
  try {
    // A published version is drawn from its tiles and style; before that, from the draft preview.
    loaded = published ? await loadLayerStyle(meta) : await draftLayers(slug, version, geometryType || meta.geometry_type);
  } catch { loaded = null; }
  if (bbox && bbox.length === 4) {
    const [w, s, e, n] = bbox;
    const ring = [[w, s], [e, s], [e, n], [w, n], [w, s]];
    map.addSource('pv:bbox', { type: 'geojson', data: { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: {} } });
    map.addLayer({ id: 'pv:bbox', type: 'line', source: 'pv:bbox', paint: { 'line-color': '#b4006a', 'line-dasharray': [2, 2] } });
    map.fitBounds([[w, s], [e, n]], { padding: 20, duration: 0, maxZoom: 15 });
  }
  if (loaded) {
    for (const [id, source] of Object.entries(loaded.sources)) map.addSource(`pv:${id}`, source);
    for (const layer of loaded.layers) map.addLayer({ ...layer, id: `pv:${layer.id}`, source: `pv:${layer.source}` });
    status('preview-status', loaded.note || '');
  } else {
    status('preview-status', t('up.previewNone'));
  }
  $('preview').dataset.version = String(version);
  $('preview').dataset.state = published ? 'published' : 'draft';
  map.once('idle', () => { $('preview').dataset.rendered = String(version); });
  map.triggerRepaint();
}

// --- language ----------------------------------------------------------------------------------
$('lang-switch').addEventListener('click', () => setLang(lang() === 'vi' ? 'en' : 'vi'));
onLangChange(() => {
  renderLayerOptions();
  chooseFile(state.file);
  showVersions();
  if (state.job) replaceChildren($('report'), renderReport(state.job));
});

Promise.all([loadLayers(), loadCategories()]).then(() => { document.body.dataset.ready = 'true'; });
