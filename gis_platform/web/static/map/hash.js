// The view in the URL hash, so a map can be shared and reopened as it was:
//   #map=<zoom>/<lat>/<lon>&layers=a,b,c&indicator=population&period=2019&at=after&scheme=quantiles&k=5&lang=en
// Layers are listed top-most first, as in the "visible layers" panel.

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Parse a hash string into a partial view; unknown or malformed members are ignored. */
export function parseHash(hash) {
  const params = new URLSearchParams(String(hash || '').replace(/^#/, ''));
  const view = {};
  const map = (params.get('map') || '').split('/').map(Number);
  if (map.length === 3 && map.every(Number.isFinite)) {
    const [zoom, lat, lon] = map;
    if (zoom >= 0 && zoom <= 22 && Math.abs(lat) <= 85 && Math.abs(lon) <= 180) {
      view.zoom = zoom;
      view.center = [lon, lat];
    }
  }
  if (params.has('layers')) {
    view.layers = params.get('layers').split(',').filter((s) => SLUG.test(s));
  }
  const indicator = params.get('indicator');
  if (indicator && /^[A-Za-z0-9_.:-]{1,64}$/.test(indicator)) view.indicator = indicator;
  const period = params.get('period');
  if (period && /^[0-9A-Za-z_-]{1,20}$/.test(period)) view.period = period;
  if (['before', 'after'].includes(params.get('at'))) view.at = params.get('at');
  const scheme = params.get('scheme');
  if (['quantiles', 'equal_interval', 'fisher_jenks', 'natural_breaks'].includes(scheme)) view.scheme = scheme;
  const k = Number(params.get('k'));
  if (Number.isInteger(k) && k >= 2 && k <= 9) view.k = k;
  if (['vi', 'en'].includes(params.get('lang'))) view.lang = params.get('lang');
  return view;
}

/** Serialise a view; members left undefined are omitted. */
export function formatHash(view) {
  const parts = [];
  if (view.center && Number.isFinite(view.zoom)) {
    const [lon, lat] = view.center;
    parts.push(`map=${view.zoom.toFixed(2)}/${lat.toFixed(5)}/${lon.toFixed(5)}`);
  }
  if (view.layers && view.layers.length) parts.push(`layers=${view.layers.join(',')}`);
  if (view.indicator) {
    parts.push(`indicator=${encodeURIComponent(view.indicator)}`);
    if (view.period) parts.push(`period=${encodeURIComponent(view.period)}`);
    if (view.at) parts.push(`at=${view.at}`);
    if (view.scheme) parts.push(`scheme=${view.scheme}`);
    if (view.k) parts.push(`k=${view.k}`);
  }
  if (view.lang) parts.push(`lang=${view.lang}`);
  return `#${parts.join('&')}`;
}

/** Replace the hash without adding a history entry (panning must not flood the back button). */
export function writeHash(view) {
  const hash = formatHash(view);
  if (hash !== window.location.hash) {
    window.history.replaceState(window.history.state, '', `${window.location.pathname}${window.location.search}${hash}`);
  }
}
