// The first render's requests, started before MapLibre has even loaded: this module runs as an
// async module script (it waits for nothing), and app.js imports the same instance of it.
import { prefetch, useSessionAuth, withQuery } from './api.js';
import { fetchBoundaries } from './basemap.js';
import { parseHash } from './hash.js';

performance.mark('map:preload');
/** Main-thread tasks over 50 ms until the first render ([start, duration] in ms), for the perf report. */
export const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push([Math.round(e.startTime), Math.round(e.duration)]);
  }).observe({ type: 'longtask', buffered: true });
} catch { /* not supported: no report */ }

export const config = JSON.parse(document.body.dataset.config || '{}');
export const initial = {
  center: config.defaultView.center, zoom: config.defaultView.zoom, ...parseHash(window.location.hash),
};
/** The boundary date of the first view, and its boundaries (the largest download) under way. */
export const firstAt = config.boundaryDates[initial.indicator && initial.at === 'before' ? 'before' : 'after'];
export const boundaries = { at: firstAt, promise: fetchBoundaries(firstAt) };
boundaries.promise.catch(() => null); // errors surface when the promise is used

// A signed-in session (sessionStorage) asks as its caller from the first request on.
useSessionAuth();
// Everything else that does not need the map, in parallel (it would otherwise be asked for one
// request after another once the map has loaded).
prefetch('/catalogue/categories');
prefetch('/catalogue/layers?limit=50');
prefetch('/stats/indicators');
for (const slug of initial.layers || []) {
  const s = encodeURIComponent(slug);
  for (const url of [`/catalogue/layers/${s}`, `/styles/${s}.json`, `/tiles/${s}.json`]) prefetch(url);
}
if (initial.indicator) {
  // The choropleth of a shared URL (on wards; unused when the date has only districts).
  const params = { indicator: initial.indicator, level: 'ward', at: firstAt, period: initial.period };
  prefetch(withQuery('/stats/values', params));
  prefetch(withQuery('/stats/choropleth', { ...params, scheme: initial.scheme || 'quantiles', k: initial.k || 5 }));
}
