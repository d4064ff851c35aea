// Click a feature: a popup with its attributes, the ward it lies in (admin locate) and that ward's
// key statistics; a button opens the full ward profile in the side panel.
import { getJSON, withQuery } from './api.js';
import { formatNumber, h, replaceChildren } from './dom.js';
import { lang, t, titleOf } from './i18n.js';

const MAX_ATTRIBUTES = 30;
const KEY_STATS = 5;
const HIDDEN = new Set(['geom', 'geom_3857', 'geometry']);

/** Normalise a ward profile from the statistics API into [{code, name, unit, synthetic, series, latest}]. */
export function indicatorsOf(profile) {
  const list = (profile && (profile.indicators || profile.values)) || [];
  return list.map((ind) => {
    const raw = ind.series || ind.values || ind.observations || [];
    const series = raw.map((o) => ({ period: o.period ?? o.at ?? o.date ?? '', value: o.value }));
    const latest = series.length ? series[series.length - 1]
      : ind.value !== undefined ? { period: ind.period ?? '', value: ind.value } : null;
    return { ...ind, series, latest };
  });
}

function attributeTable(properties) {
  const rows = Object.entries(properties || {})
    .filter(([key, value]) => !HIDDEN.has(key) && value !== null && value !== '')
    .slice(0, MAX_ATTRIBUTES)
    .map(([key, value]) => h('tr', {}, h('th', { scope: 'row' }, key),
      h('td', {}, typeof value === 'number' ? formatNumber(value, lang(), 6) : String(value))));
  return h('table', {}, h('tbody', {}, rows));
}

function statsTable(indicators, limit) {
  const rows = indicators.slice(0, limit).map((ind) => h('tr', {},
    h('th', { scope: 'row' }, titleOf(ind), ind.synthetic ? h('span', { class: 'badge' }, t('badge.synthetic')) : null),
    h('td', { class: 'num' }, ind.latest ? formatNumber(ind.latest.value, lang()) : '–', ind.unit ? ` ${ind.unit}` : ''),
    h('td', {}, ind.latest ? String(ind.latest.period) : '')));
  return h('table', { class: 'stats' }, h('tbody', {}, rows));
}

export class Popups {
  /**
   * @param map maplibregl.Map; @param manager LayerManager; @param boundaryDate () => 'YYYY-MM-DD'
   */
  constructor(map, manager, boundaryDate) {
    this.map = map;
    this.manager = manager;
    this.boundaryDate = boundaryDate;
    this.popup = null;
    this.panel = document.getElementById('profile');
    this.panelTitle = document.getElementById('profile-title');
    this.panelBody = document.getElementById('profile-body');
    document.getElementById('profile-close').addEventListener('click', () => this.closeProfile());
    this.panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.closeProfile(); });
    map.on('click', (e) => this.onClick(e));
    // A pointer cursor over anything clickable.
    map.on('mousemove', (e) => {
      const hits = this.map.queryRenderedFeatures(e.point, { layers: this.clickable() });
      this.map.getCanvas().style.cursor = hits.length ? 'pointer' : '';
    });
  }

  clickable() {
    return [...this.manager.interactiveLayerIds(), 'wards-fill'].filter((id) => this.map.getLayer(id));
  }

  onClick(e) {
    const hits = this.map.queryRenderedFeatures(e.point, { layers: this.clickable() });
    if (!hits.length) return;
    const feature = hits.find((f) => f.layer.id !== 'wards-fill');
    this.open(e.lngLat, feature || null, hits.find((f) => f.layer.id === 'wards-fill') || null);
  }

  async open(lngLat, feature, wardFeature) {
    const body = h('div', { class: 'popup', role: 'dialog', 'aria-label': t('popup.attributes') });
    if (feature) {
      const meta = this.manager.get(feature.layer.metadata?.slug)?.meta;
      body.append(h('h3', {}, meta ? titleOf(meta) : feature.layer.id), attributeTable(feature.properties));
    }
    const wardBox = h('div', { class: 'popup-ward' }, h('p', { class: 'hint' }, t('popup.loading')));
    body.append(wardBox);
    if (this.popup) this.popup.remove();
    this.popup = new window.maplibregl.Popup({ maxWidth: '22rem', focusAfterOpen: true })
      .setLngLat(lngLat).setDOMContent(body).addTo(this.map);
    await this.fillWard(wardBox, lngLat, wardFeature);
    // The content grew: setting the position again lets MapLibre re-pick the anchor so it stays in view.
    if (this.popup && this.popup.isOpen()) this.popup.setLngLat(lngLat);
  }

  /** Locate the ward (the clicked boundary feature, else the API), then show its key statistics. */
  async fillWard(box, lngLat, wardFeature) {
    const at = this.boundaryDate();
    let unit = null;
    try {
      unit = await getJSON(withQuery('/admin/units/locate', { lon: lngLat.lng, lat: lngLat.lat, at, level: 'ward' }), { optional: true });
    } catch { /* outside every ward */ }
    if (!unit && wardFeature) unit = { ...wardFeature.properties };
    if (!unit) {
      replaceChildren(box, h('p', { class: 'hint' }, t('popup.noWard')));
      return;
    }
    this.highlight(unit.code);
    const profile = await getJSON(withQuery(`/stats/units/${encodeURIComponent(unit.code)}`, { at }), { optional: true })
      .catch(() => null);
    const indicators = indicatorsOf(profile);
    replaceChildren(box,
      h('h4', {}, `${t('popup.ward')}: ${unit.full_name_vi && lang() === 'vi' ? unit.full_name_vi : titleOf(unit)} (${unit.code})`),
      h('h4', {}, t('popup.stats')),
      indicators.length ? statsTable(indicators, KEY_STATS) : h('p', { class: 'hint stats-empty' }, t('popup.noStats')),
      h('button', { type: 'button', class: 'btn', onclick: () => this.openProfile(unit, profile) }, t('popup.profile')));
  }

  highlight(code) {
    if (this.map.getLayer('ward-highlight')) this.map.setFilter('ward-highlight', ['==', ['get', 'code'], code || '']);
  }

  /** The ward profile side panel: identity, area and every indicator's time series. */
  openProfile(unit, profile) {
    this.panel.hidden = false;
    this.panelTitle.textContent = unit.full_name_vi && lang() === 'vi' ? unit.full_name_vi : titleOf(unit);
    const facts = h('table', {}, h('tbody', {},
      h('tr', {}, h('th', { scope: 'row' }, t('profile.code')), h('td', {}, unit.code)),
      unit.area_km2 != null ? h('tr', {}, h('th', { scope: 'row' }, t('profile.area')),
        h('td', { class: 'num' }, formatNumber(unit.area_km2, lang()))) : null,
      unit.parent_code ? h('tr', {}, h('th', { scope: 'row' }, t('profile.parent')), h('td', {}, unit.parent_code)) : null));
    const sections = [facts];
    const indicators = indicatorsOf(profile);
    if (!profile) sections.push(h('p', { class: 'hint' }, t('profile.unavailable')));
    for (const ind of indicators) {
      sections.push(h('h3', {}, titleOf(ind), ind.unit ? ` (${ind.unit})` : '',
        ind.synthetic ? h('span', { class: 'badge' }, t('badge.synthetic')) : null));
      sections.push(h('table', {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('profile.period')), h('th', { scope: 'col' }, t('profile.value')))),
        h('tbody', {}, ind.series.map((o) => h('tr', {}, h('td', {}, String(o.period)),
          h('td', { class: 'num' }, formatNumber(o.value, lang())))))));
    }
    replaceChildren(this.panelBody, sections);
    this.panel.focus();
    this.map.resize();
  }

  closeProfile() {
    this.panel.hidden = true;
    this.highlight('');
    this.map.resize();
    this.map.getCanvasContainer().focus();
  }
}
