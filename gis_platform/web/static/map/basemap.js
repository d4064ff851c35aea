// The light background drawn from our own data: ward boundaries (fill + outline) on a plain
// background, so no external basemap is needed. An optional basemap style URL (settings) goes below.
import { getJSON, withQuery } from './api.js';

export const WARD_FILL = '#fbfaf6';
export const WARD_SOURCE = 'wards';
/** Simplification of the boundaries in degrees (~50 m): a background needs no more, and it halves the payload. */
const TOLERANCE = 0.0005;

/** The base style: background, ward fill, ward outline, selected-ward outline. */
export function baseStyle() {
  return {
    version: 8,
    sources: {
      [WARD_SOURCE]: { type: 'geojson', data: { type: 'FeatureCollection', features: [] }, promoteId: 'code' },
    },
    layers: [
      { id: 'background', type: 'background', paint: { 'background-color': '#e4ecef' } },
      { id: 'wards-fill', type: 'fill', source: WARD_SOURCE, paint: { 'fill-color': WARD_FILL, 'fill-opacity': 0.9 } },
      { id: 'wards-line', type: 'line', source: WARD_SOURCE, paint: { 'line-color': '#7d8590', 'line-width': 0.8 } },
      {
        id: 'ward-highlight', type: 'line', source: WARD_SOURCE, filter: ['==', ['get', 'code'], ''],
        paint: { 'line-color': '#b4006a', 'line-width': 2.5 },
      },
    ],
  };
}

/** Add our base layers on top of an external basemap style once it has loaded. */
export function addBaseLayers(map) {
  const style = baseStyle();
  if (!map.getSource(WARD_SOURCE)) map.addSource(WARD_SOURCE, style.sources[WARD_SOURCE]);
  for (const layer of style.layers) {
    if (layer.id === 'background' || map.getLayer(layer.id)) continue;
    // Over a real basemap the ward fill is only a light veil.
    if (layer.id === 'wards-fill') layer.paint['fill-opacity'] = 0.25;
    map.addLayer(layer);
  }
}

const attributionCache = new Map();

/** Source, licence and attribution of the boundary set of `level` on `at` (from any one unit). */
async function boundaryAttribution(code, level, at) {
  const key = `${level}|${at}`;
  if (!attributionCache.has(key)) {
    const unit = await getJSON(withQuery(`/admin/units/${encodeURIComponent(code)}`, { at, level }), { optional: true })
      .catch(() => null);
    attributionCache.set(key, unit && unit.source ? unit.source : null);
  }
  return attributionCache.get(key);
}

/**
 * Fetch the boundaries valid on `at`. Wards first; before the 2025 reform no ward polygons exist
 * under an open licence, so the districts of that date are used instead. Resolves to {level, data}.
 */
export async function fetchBoundaries(at) {
  let level = 'ward';
  let data = await getJSON(withQuery('/admin/boundaries', { level, at, tolerance: TOLERANCE }));
  if (!data.features || data.features.length === 0) {
    level = 'district';
    data = await getJSON(withQuery('/admin/boundaries', { level, at, tolerance: TOLERANCE }));
  }
  return { level, data };
}

/**
 * Draw the boundaries valid on `at` (from `fetched`, a fetchBoundaries() promise started earlier,
 * when given). Resolves to {level, count, source: Promise<{source, licence, attribution} | null>}.
 */
export async function loadBoundaries(map, at, fetched = null) {
  const { level, data } = await (fetched || fetchBoundaries(at));
  map.getSource(WARD_SOURCE).setData(data);
  const first = data.features && data.features[0];
  // The attribution arrives later (off the first-render path).
  const source = first ? boundaryAttribution(String(first.id ?? first.properties.code), level, at) : Promise.resolve(null);
  return { level, count: (data.features || []).length, source };
}

/** Background candidates from the catalogue: water and roads, if it has them. */
export function backgroundLayers(layers) {
  const water = /(water|river|canal|song|kenh|thuy)/i;
  const road = /(road|street|duong|giao-thong)/i;
  const pick = (re) => layers.find((l) => re.test(l.slug) && !/Point/.test(l.geometry_type || ''));
  return [pick(water), pick(road)].filter(Boolean);
}
