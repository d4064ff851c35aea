// Catalogue layers on the map: load each layer's MapLibre style (or fall back to its TileJSON,
// then to OGC API Features GeoJSON), and keep opacity, drawing order and attribution in sync.
import { absolute, getJSON, withQuery } from './api.js';

/** Layers of catalogue data are inserted below this one (the selection outline stays on top). */
export const TOP_ANCHOR = 'ward-highlight';
/** Background layers (water, roads) go below the ward outlines. */
export const BASE_ANCHOR = 'wards-line';

const PALETTE = ['#d1495b', '#00798c', '#edae49', '#66a182', '#8d6a9f', '#2e4057', '#c05805', '#3d7dca'];
const OPACITY_PROPS = {
  fill: ['fill-opacity'],
  line: ['line-opacity'],
  circle: ['circle-opacity', 'circle-stroke-opacity'],
  symbol: ['icon-opacity', 'text-opacity'],
  'fill-extrusion': ['fill-extrusion-opacity'],
  raster: ['raster-opacity'],
  heatmap: ['heatmap-opacity'],
};
const COLOR_PROPS = { fill: 'fill-color', line: 'line-color', circle: 'circle-color', 'fill-extrusion': 'fill-extrusion-color' };

/** A stable colour per slug for layers that come without a style. */
export function defaultColor(slug) {
  let hash = 0;
  for (const ch of slug) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** Default MapLibre layers for a geometry type (used when /styles/{slug}.json is not available). */
export function defaultLayers(slug, geometryType, source, sourceLayer) {
  const color = defaultColor(slug);
  const common = sourceLayer ? { source, 'source-layer': sourceLayer } : { source };
  const type = String(geometryType || 'Geometry').replace(/^Multi/, '');
  const poly = { id: `${slug}-fill`, type: 'fill', ...common, paint: { 'fill-color': color, 'fill-opacity': 0.45 } };
  const outline = { id: `${slug}-outline`, type: 'line', ...common, paint: { 'line-color': color, 'line-width': 1.2 } };
  const line = { id: `${slug}-line`, type: 'line', ...common, paint: { 'line-color': color, 'line-width': 2 } };
  const point = {
    id: `${slug}-circle`, type: 'circle', ...common,
    paint: { 'circle-color': color, 'circle-radius': 5, 'circle-stroke-color': '#ffffff', 'circle-stroke-width': 1 },
  };
  if (type === 'Point') return [point];
  if (type === 'LineString') return [line];
  if (type === 'Polygon') return [poly, outline];
  // Mixed layers: one MapLibre layer per geometry kind, each filtered to its kind.
  const only = (layer, kinds) => ({ ...layer, filter: ['in', ['geometry-type'], ['literal', kinds]] });
  return [only(poly, ['Polygon', 'MultiPolygon']), only(line, ['LineString', 'MultiLineString']),
    only(point, ['Point', 'MultiPoint'])];
}

/** The first colour literal found in a paint value (a plain colour or an expression). */
function firstColor(value) {
  if (typeof value === 'string') return /^(#|rgb|hsl)/i.test(value) ? value : null;
  if (Array.isArray(value)) {
    for (const item of value.slice(1)) {
      const found = firstColor(item);
      if (found) return found;
    }
  }
  return null;
}

/** Legend swatch {color, kind} from the first drawable layer of a style. */
export function swatchOf(layers) {
  for (const layer of layers) {
    const prop = COLOR_PROPS[layer.type];
    const color = prop && firstColor((layer.paint || {})[prop]);
    if (color) {
      const kind = layer.type === 'circle' ? 'point' : layer.type === 'line' ? 'line' : 'polygon';
      return { color, kind };
    }
  }
  return { color: '#999999', kind: 'polygon' };
}

/** Make every URL of a source absolute and drop its own attribution (the page shows its own list). */
function normaliseSource(source) {
  const out = { ...source };
  delete out.attribution;
  if (typeof out.url === 'string') out.url = absolute(out.url);
  if (Array.isArray(out.tiles)) out.tiles = out.tiles.map((t) => (t.startsWith('/') ? window.location.origin + t : t));
  if (typeof out.data === 'string') out.data = absolute(out.data);
  return out;
}

/**
 * A vector source whose TileJSON is ours, with the TileJSON's tile URLs and zoom range written in:
 * MapLibre then requests tiles at once instead of fetching the TileJSON first (one round trip less).
 */
async function inlineTileJSON(source) {
  if (source.type !== 'vector' || typeof source.url !== 'string' || source.tiles) return source;
  const url = new URL(source.url, window.location.origin);
  if (url.origin !== window.location.origin || !/^\/tiles\/[^/]+\.json$/.test(url.pathname)) return source;
  const tilejson = await getJSON(url.pathname + url.search, { optional: true }).catch(() => null);
  if (!tilejson || !Array.isArray(tilejson.tiles) || !tilejson.tiles.length) return source;
  // Not absolute(): the URL parser would percent-encode the {z}/{x}/{y} placeholders.
  const out = { ...source, tiles: tilejson.tiles.map((t) => (t.startsWith('/') ? window.location.origin + t : t)) };
  delete out.url;
  for (const key of ['minzoom', 'maxzoom', 'bounds', 'scheme']) if (tilejson[key] !== undefined) out[key] = tilejson[key];
  return out;
}

/** Load a layer's sources and MapLibre layers; the styles API first, then TileJSON, then GeoJSON. */
export async function loadLayerStyle(meta, { hasGlyphs = false, hasSprite = false } = {}) {
  const slug = meta.slug;
  const style = await getJSON(`/styles/${encodeURIComponent(slug)}.json`, { optional: true });
  if (style && style.sources && Array.isArray(style.layers)) {
    const layers = style.layers.filter((layer) => {
      if (layer.type === 'background') return false; // one background only: ours
      const layout = layer.layout || {};
      // Without glyphs/sprites (no external resources) labels and icons cannot draw: skip them.
      if (layer.type === 'symbol' && ((layout['text-field'] && !hasGlyphs) || (layout['icon-image'] && !hasSprite))) {
        return false;
      }
      return true;
    });
    const sources = Object.fromEntries(await Promise.all(Object.entries(style.sources)
      .map(async ([id, s]) => [id, await inlineTileJSON(normaliseSource(s))])));
    return { sources, layers, via: 'style' };
  }
  const tilejson = await getJSON(`/tiles/${encodeURIComponent(slug)}.json`, { optional: true });
  if (tilejson) {
    const sourceLayer = (tilejson.vector_layers && tilejson.vector_layers[0] && tilejson.vector_layers[0].id) || slug;
    const source = { type: 'vector', url: absolute(`/tiles/${encodeURIComponent(slug)}.json`) };
    return { sources: { [slug]: source }, layers: defaultLayers(slug, meta.geometry_type, slug, sourceLayer), via: 'tiles' };
  }
  const items = await getJSON(withQuery(`/collections/${encodeURIComponent(slug)}/items`, { limit: 5000 }), { optional: true });
  if (items && Array.isArray(items.features)) {
    const source = { type: 'geojson', data: items };
    return { sources: { [slug]: source }, layers: defaultLayers(slug, meta.geometry_type, slug), via: 'features' };
  }
  throw new Error('no-data-api');
}

export class LayerManager {
  /** @param map a maplibregl.Map; onChange() is called after any add/remove/reorder. */
  constructor(map, { onChange = () => {} } = {}) {
    this.map = map;
    this.onChange = onChange;
    this.entries = new Map(); // slug -> {meta, layerIds, sourceIds, base, opacity, swatch, baseOpacity}
    this.order = []; // listed (non-background) slugs, top-most first
  }

  has(slug) { return this.entries.has(slug); }
  get(slug) { return this.entries.get(slug); }
  /** Listed slugs, top-most first. */
  slugs() { return [...this.order]; }
  /** Every MapLibre layer id of the listed layers (clickable for popups). */
  interactiveLayerIds() {
    return this.order.flatMap((slug) => this.entries.get(slug).layerIds);
  }

  /**
   * Add a catalogue layer. `base` layers (water, roads) form the background: not listed, not reorderable.
   * Resolves to the entry; rejects when no API can deliver the layer.
   */
  async add(meta, { opacity = 1, base = false } = {}) {
    if (this.entries.has(meta.slug)) return this.entries.get(meta.slug);
    const style = this.map.getStyle();
    const loaded = await loadLayerStyle(meta, { hasGlyphs: Boolean(style.glyphs), hasSprite: Boolean(style.sprite) });
    const prefix = `cat:${meta.slug}:`;
    const sourceIds = [];
    for (const [id, source] of Object.entries(loaded.sources)) {
      if (!this.map.getSource(prefix + id)) this.map.addSource(prefix + id, source);
      sourceIds.push(prefix + id);
    }
    const layerIds = [];
    const baseOpacity = {};
    const anchor = base ? BASE_ANCHOR : TOP_ANCHOR;
    for (const layer of loaded.layers) {
      const id = prefix + layer.id;
      const def = { ...layer, id, source: prefix + layer.source, metadata: { ...(layer.metadata || {}), slug: meta.slug } };
      this.map.addLayer(def, this.map.getLayer(anchor) ? anchor : undefined);
      layerIds.push(id);
      for (const prop of OPACITY_PROPS[layer.type] || []) {
        const value = (layer.paint || {})[prop];
        baseOpacity[`${id}|${prop}`] = typeof value === 'number' ? value : 1;
      }
    }
    const entry = { meta, layerIds, sourceIds, base, opacity, baseOpacity, swatch: swatchOf(loaded.layers), via: loaded.via };
    this.entries.set(meta.slug, entry);
    if (!base) this.order.unshift(meta.slug); // a new layer goes on top
    this.setOpacity(meta.slug, opacity);
    this.applyOrder();
    this.onChange();
    return entry;
  }

  remove(slug) {
    const entry = this.entries.get(slug);
    if (!entry) return;
    for (const id of entry.layerIds) if (this.map.getLayer(id)) this.map.removeLayer(id);
    for (const id of entry.sourceIds) if (this.map.getSource(id)) this.map.removeSource(id);
    this.entries.delete(slug);
    this.order = this.order.filter((s) => s !== slug);
    this.onChange();
  }

  /** Opacity 0..1, multiplied into the style's own opacities where those are plain numbers. */
  setOpacity(slug, opacity) {
    const entry = this.entries.get(slug);
    if (!entry) return;
    entry.opacity = opacity;
    for (const id of entry.layerIds) {
      const layer = this.map.getLayer(id);
      if (!layer) continue;
      for (const prop of OPACITY_PROPS[layer.type] || []) {
        this.map.setPaintProperty(id, prop, entry.baseOpacity[`${id}|${prop}`] * opacity);
      }
    }
  }

  /** Move a listed layer up (delta -1, drawn later = on top) or down (+1). */
  move(slug, delta) {
    const i = this.order.indexOf(slug);
    const j = i + delta;
    if (i < 0 || j < 0 || j >= this.order.length) return false;
    [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    this.applyOrder();
    this.onChange();
    return true;
  }

  /** Restack the listed layers: each goes just below the anchor, bottom-most first. */
  applyOrder() {
    const anchor = this.map.getLayer(TOP_ANCHOR) ? TOP_ANCHOR : undefined;
    for (const slug of [...this.order].reverse()) {
      for (const id of this.entries.get(slug).layerIds) this.map.moveLayer(id, anchor);
    }
  }

  /** Metadata of every layer on the map (background ones included), for the attribution list. */
  visibleMeta() {
    return [...this.entries.values()].map((e) => e.meta);
  }
}
