// The catalogue panel: search as you type, categories with counts, layer toggles, and the list of
// visible layers with legend swatch, opacity and drawing order. All controls are native inputs and
// buttons with labels, so they are reachable and operable by keyboard.
import { getJSON, prefetch, withQuery } from './api.js';
import { debounce, h, replaceChildren } from './dom.js';
import { t, titleOf } from './i18n.js';

const PAGE = 50;

/** The "internal" badge of a layer only signed-in staff may see (none for public layers). */
function internalBadge(layer) {
  if (layer.visibility !== 'internal') return null;
  return h('span', { class: 'badge internal', title: t('badge.internalHelp'), dataset: { badge: 'internal' } },
    t('badge.internal'));
}

export class CataloguePanel {
  /**
   * @param manager LayerManager
   * @param toggle async (meta, on) => void — adds or removes a layer (errors are shown on the panel)
   */
  constructor(manager, toggle) {
    this.manager = manager;
    this.toggle = toggle;
    this.known = new Map(); // slug -> catalogue metadata
    this.results = [];
    this.categories = [];
    this.available = true;
    this.controller = null;
    this.el = {
      search: document.getElementById('cat-search'),
      category: document.getElementById('cat-category'),
      status: document.getElementById('cat-status'),
      results: document.getElementById('cat-results'),
      active: document.getElementById('active-list'),
      empty: document.getElementById('active-empty'),
    };
    const run = debounce(() => this.search(), 250);
    this.el.search.addEventListener('input', run);
    this.el.category.addEventListener('change', () => this.search());
  }

  async init() {
    // The first search does not wait for the categories (they only name the results).
    prefetch(withQuery('/catalogue/layers', { limit: PAGE }));
    const data = await getJSON('/catalogue/categories', { optional: true }).catch(() => null);
    this.categories = (data && data.categories) || [];
    this.renderCategories();
    await this.search();
  }

  /** Metadata of a layer by slug: from the last results, else the catalogue, else a bare stub. */
  async meta(slug) {
    if (this.known.has(slug)) return this.known.get(slug);
    const meta = await getJSON(`/catalogue/layers/${encodeURIComponent(slug)}`, { optional: true }).catch(() => null);
    const layer = (meta && (meta.layer || meta)) || { slug, title_vi: slug, title_en: slug, geometry_type: 'Geometry' };
    this.known.set(slug, layer);
    return layer;
  }

  /** Drop the metadata known so far (after sign-in or sign-out: what the caller may see changed). */
  forget() {
    this.known.clear();
  }

  async search() {
    // A newer keystroke aborts the request still in flight.
    if (this.controller) this.controller.abort();
    this.controller = new AbortController();
    const q = this.el.search.value.trim();
    const url = withQuery('/catalogue/layers', { q, category: this.el.category.value, limit: PAGE });
    try {
      const data = await getJSON(url, { optional: true, signal: this.controller.signal });
      if (data === null) {
        this.available = false;
        this.results = [];
        this.setStatus(t('cat.unavailable'), true);
      } else {
        this.results = data.layers || [];
        for (const layer of this.results) this.known.set(layer.slug, layer);
        const total = data.numberMatched ?? this.results.length;
        this.setStatus(this.results.length ? t('cat.found', { n: total }) : t('cat.none'));
      }
      this.renderResults();
    } catch (error) {
      if (error.name !== 'AbortError') this.setStatus(`${t('cat.error')}: ${error.message}`, true);
    }
  }

  setStatus(text, isError = false) {
    this.el.status.textContent = text;
    this.el.status.classList.toggle('error', isError);
  }

  renderCategories() {
    const current = this.el.category.value;
    const options = [h('option', { value: '' }, t('cat.allCategories'))];
    for (const c of this.categories) {
      options.push(h('option', { value: c.id }, `${titleOf(c)} (${c.count ?? 0})`));
    }
    replaceChildren(this.el.category, options);
    this.el.category.value = current;
  }

  renderResults() {
    const items = this.results.map((layer) => {
      const id = `layer-toggle-${layer.slug}`;
      const box = h('input', {
        type: 'checkbox', id, checked: this.manager.has(layer.slug), dataset: { slug: layer.slug },
        onchange: (e) => this.toggle(layer, e.target.checked),
      });
      const category = this.categories.find((c) => c.id === layer.category);
      return h('li', {},
        box,
        h('label', { for: id },
          titleOf(layer),
          layer.synthetic ? h('span', { class: 'badge', title: t('badge.syntheticHelp') }, t('badge.synthetic')) : null,
          internalBadge(layer),
          h('span', { class: 'meta' }, [category ? titleOf(category) : layer.category, layer.geometry_type]
            .filter(Boolean).join(' · '))));
    });
    replaceChildren(this.el.results, items);
  }

  /** Reflect a layer's state in its checkbox (after a failure, or a change from the URL). */
  syncCheckbox(slug) {
    const box = document.getElementById(`layer-toggle-${slug}`);
    if (box) box.checked = this.manager.has(slug);
  }

  renderActive(focusSelector) {
    const slugs = this.manager.slugs();
    this.el.empty.hidden = slugs.length > 0;
    const items = slugs.map((slug, index) => {
      const entry = this.manager.get(slug);
      const title = titleOf(entry.meta);
      const pct = Math.round(entry.opacity * 100);
      const range = h('input', {
        type: 'range', id: `opacity-${slug}`, min: 0, max: 100, step: 5, value: String(pct),
        'aria-valuetext': `${pct}%`,
        oninput: (e) => {
          this.manager.setOpacity(slug, Number(e.target.value) / 100);
          e.target.setAttribute('aria-valuetext', `${e.target.value}%`);
        },
      });
      const button = (action, label, text, disabled, onclick) => h('button', {
        type: 'button', class: 'btn icon-btn', 'aria-label': `${label}: ${title}`, title: label,
        dataset: { action, slug }, disabled, onclick,
      }, h('span', { 'aria-hidden': 'true' }, text)); // the symbol is decoration: the label names the action
      return h('li', { dataset: { slug } },
        h('div', { class: 'row' },
          h('span', { class: `swatch ${entry.swatch.kind}`, style: { background: entry.swatch.color }, 'aria-hidden': 'true' }),
          h('span', { class: 'title' }, title,
            entry.meta.synthetic ? h('span', { class: 'badge' }, t('badge.synthetic')) : null,
            internalBadge(entry.meta)),
          button('up', t('active.up'), '↑', index === 0, () => this.move(slug, -1, 'up')),
          button('down', t('active.down'), '↓', index === slugs.length - 1, () => this.move(slug, 1, 'down')),
          button('remove', t('active.remove'), '×', false, () => this.toggle(entry.meta, false))),
        h('label', { for: `opacity-${slug}` }, `${t('active.opacity')}: ${title}`),
        range);
    });
    replaceChildren(this.el.active, items);
    if (focusSelector) {
      // At the top (or bottom) the pressed button is disabled: focus the row's other enabled button.
      const target = this.el.active.querySelector(focusSelector);
      const fallback = target && target.closest('li').querySelector('button:not([disabled])');
      (target && !target.disabled ? target : fallback)?.focus();
    }
  }

  move(slug, delta, action) {
    if (this.manager.move(slug, delta)) {
      // Keep keyboard focus on the button that was pressed, now in the moved row.
      this.renderActive(`button[data-action="${action}"][data-slug="${CSS.escape(slug)}"]`);
    }
  }

  /** Re-render every text after a language switch. */
  relabel() {
    this.renderCategories();
    this.renderResults();
    this.renderActive();
    if (!this.available) this.setStatus(t('cat.unavailable'), true);
    else this.setStatus(this.results.length ? t('cat.found', { n: this.results.length }) : t('cat.none'));
  }
}
