// Choropleth mode: colour the ward boundaries by an indicator. Class breaks and colours come from
// /stats/choropleth, the values per unit from /stats/values; the colours reach the map as one
// `match` expression on the unit code of the 'wards-fill' layer.
import { getJSON, withQuery } from './api.js';
import { formatNumber, h, replaceChildren } from './dom.js';
import { lang, t, titleOf } from './i18n.js';
import { WARD_FILL } from './basemap.js';

const NO_DATA = '#d9d9d9';

/**
 * Index of the class of `value`. Accepts breaks as k+1 edges (min..max), k upper bounds, or k-1
 * inner breaks, since classification libraries differ; a value on a break belongs to the lower class.
 */
export function classOf(value, breaks, k) {
  let inner = breaks;
  if (breaks.length === k + 1) inner = breaks.slice(1, -1);
  else if (breaks.length === k) inner = breaks.slice(0, -1);
  let i = 0;
  while (i < inner.length && value > inner[i]) i += 1;
  return Math.min(i, k - 1);
}

/** Lower and upper bound of class i, when the breaks give them. */
function bounds(i, breaks, k, values) {
  const edges = breaks.length === k + 1 ? breaks
    : breaks.length === k ? [Math.min(...values), ...breaks]
      : [Math.min(...values), ...breaks, Math.max(...values)];
  return [edges[i], edges[i + 1]];
}

/** The MapLibre expression colouring each unit by its class (grey when it has no value). */
export function matchExpression(values, breaks, colors) {
  const k = colors.length;
  const expr = ['match', ['to-string', ['get', 'code']]];
  const seen = new Set();
  for (const { unit_code: code, value } of values) {
    if (value === null || value === undefined || seen.has(String(code))) continue;
    seen.add(String(code));
    expr.push(String(code), colors[classOf(Number(value), breaks, k)]);
  }
  // `match` needs at least one label/output pair.
  return seen.size ? [...expr, NO_DATA] : NO_DATA;
}

/** How the values were derived (the API's `method`: text, or an object with a description). */
function methodNote(method) {
  if (!method) return null;
  const text = typeof method === 'string' ? method : method.description || method.name || JSON.stringify(method);
  return h('p', { class: 'note' }, text);
}

export class Choropleth {
  /**
   * @param map maplibregl.Map
   * @param config page config (boundaryDates)
   * @param onBoundaryDate async (date) => {level} — redraw the boundaries valid on that date
   * @param onChange () => void — the view changed (URL hash)
   */
  constructor(map, config, onBoundaryDate, onChange) {
    this.map = map;
    this.dates = config.boundaryDates;
    this.onBoundaryDate = onBoundaryDate;
    this.onChange = onChange;
    this.indicators = [];
    this.level = 'ward';
    this.lastResult = null;
    this.el = {
      on: document.getElementById('choro-on'),
      controls: document.getElementById('choro-controls'),
      indicator: document.getElementById('choro-indicator'),
      period: document.getElementById('choro-period'),
      at: document.getElementById('choro-at'),
      scheme: document.getElementById('choro-scheme'),
      k: document.getElementById('choro-k'),
      status: document.getElementById('choro-status'),
      legend: document.getElementById('choro-legend'),
    };
    this.el.controls.disabled = true;
    this.el.on.addEventListener('change', () => this.update());
    for (const key of ['indicator', 'at', 'scheme', 'k']) this.el[key].addEventListener('change', () => this.update());
    this.el.period.addEventListener('change', () => this.update());
  }

  get enabled() { return this.el.on.checked; }
  /** The boundary date in force (the reform switch only matters in choropleth mode). */
  boundaryDate() { return this.dates[this.enabled ? this.el.at.value : 'after']; }

  async init() {
    const data = await getJSON('/stats/indicators', { optional: true }).catch(() => null);
    this.indicators = (data && data.indicators) || [];
    if (!data) {
      this.el.on.disabled = true;
      this.setStatus(t('choro.unavailable'));
    }
    this.renderIndicators();
  }

  renderIndicators() {
    const current = this.el.indicator.value;
    replaceChildren(this.el.indicator, this.indicators.map((ind) => h('option', { value: ind.code },
      `${titleOf(ind)}${ind.unit ? ` (${ind.unit})` : ''}${ind.synthetic ? ` — ${t('badge.synthetic')}` : ''}`)));
    if (current) this.el.indicator.value = current;
  }

  /** Apply a view from the URL: {indicator, period, at, scheme, k}; no indicator switches the mode off. */
  async restore(view) {
    this.el.on.checked = Boolean(view.indicator) && this.indicators.some((i) => i.code === view.indicator);
    if (this.el.on.checked) this.el.indicator.value = view.indicator;
    this.el.period.value = view.period || '';
    this.el.at.value = view.at || 'after';
    if (view.scheme) this.el.scheme.value = view.scheme;
    if (view.k) this.el.k.value = String(view.k);
    await this.update({ silent: true });
  }

  /** The choropleth part of the URL view. */
  view() {
    if (!this.enabled) return {};
    return {
      indicator: this.el.indicator.value, period: this.el.period.value.trim() || undefined,
      at: this.el.at.value, scheme: this.el.scheme.value, k: Number(this.el.k.value),
    };
  }

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle('error', isError);
  }

  async update({ silent = false } = {}) {
    this.el.controls.disabled = !this.enabled;
    const boundary = await this.onBoundaryDate(this.boundaryDate());
    this.level = (boundary && boundary.level) || 'ward';
    if (!this.enabled || !this.el.indicator.value) {
      this.map.setPaintProperty('wards-fill', 'fill-color', WARD_FILL);
      replaceChildren(this.el.legend);
      this.lastResult = null;
      if (!this.el.on.disabled) this.setStatus('');
      if (!silent) this.onChange();
      return;
    }
    this.setStatus(t('choro.loading'));
    const params = {
      indicator: this.el.indicator.value, level: this.level, at: this.boundaryDate(),
      period: this.el.period.value.trim(),
    };
    try {
      const [values, classes] = await Promise.all([
        getJSON(withQuery('/stats/values', params)),
        getJSON(withQuery('/stats/choropleth', { ...params, scheme: this.el.scheme.value, k: this.el.k.value })),
      ]);
      const list = (values && values.values) || [];
      if (!list.length || !classes || !(classes.colors || []).length) {
        this.map.setPaintProperty('wards-fill', 'fill-color', WARD_FILL);
        replaceChildren(this.el.legend);
        this.setStatus((this.level === 'district' ? `${t('choro.districts')}. ` : '') + t('choro.noValues'));
      } else {
        this.map.setPaintProperty('wards-fill', 'fill-color', matchExpression(list, classes.breaks || [], classes.colors));
        this.lastResult = { values: list, classes, method: values.method };
        this.renderLegend();
        const note = this.level === 'district' ? `${t('choro.districts')}. ` : '';
        this.setStatus(note + t('choro.units', { n: list.filter((v) => v.value !== null).length }));
      }
    } catch (error) {
      this.setStatus(`${t('choro.error')}: ${error.message}`, true);
    }
    if (!silent) this.onChange();
  }

  renderLegend() {
    if (!this.lastResult) return;
    const { values, classes, method } = this.lastResult;
    const colors = classes.colors;
    const k = colors.length;
    const nums = values.map((v) => Number(v.value)).filter(Number.isFinite);
    const indicator = this.indicators.find((i) => i.code === this.el.indicator.value);
    const items = colors.map((color, i) => {
      const item = (classes.legend || [])[i] || {};
      const label = typeof item === 'string' ? item : item.label || (() => {
        const [lo, hi] = bounds(i, classes.breaks || [], k, nums);
        return `${formatNumber(lo, lang())} – ${formatNumber(hi, lang())}`;
      })();
      return h('li', { class: 'legend-item', dataset: { class: String(i) } },
        h('span', { class: 'swatch', style: { background: (item && item.color) || color }, 'aria-hidden': 'true' }), label);
    });
    items.push(h('li', { class: 'legend-item' }, h('span', { class: 'swatch', style: { background: NO_DATA }, 'aria-hidden': 'true' }),
      t('choro.noData')));
    replaceChildren(this.el.legend,
      h('h3', { class: 'legend-title' }, indicator ? titleOf(indicator) : this.el.indicator.value,
        indicator && indicator.unit ? ` (${indicator.unit})` : ''),
      h('ul', { class: 'layer-list' }, items),
      methodNote(method));
  }

  relabel() {
    this.renderIndicators();
    this.renderLegend();
    if (this.el.on.disabled) this.setStatus(t('choro.unavailable'));
  }
}
