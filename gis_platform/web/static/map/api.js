// Fetch helpers for the platform's JSON APIs. Errors are RFC 9457 problem+json documents;
// `optional` requests answer null on 404 so the page degrades while an API is not deployed yet.

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || { title: `HTTP ${status}`, status };
  }
}

/** Absolute URL for a path on this server (MapLibre workers cannot resolve relative URLs). */
export function absolute(url) {
  return new URL(url, window.location.origin).href;
}

/** Build "path?a=1&b=2", dropping empty values. */
export function withQuery(path, params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== '') search.set(key, String(value));
  }
  const qs = search.toString();
  return qs ? `${path}?${qs}` : path;
}

async function problemOf(response) {
  try {
    return await response.json();
  } catch {
    return { title: response.statusText || `HTTP ${response.status}`, status: response.status };
  }
}

/** Responses requested ahead of need (see prefetch), each taken once by getJSON. */
const early = new Map();

/**
 * Start a GET now, so that the first-render requests run in parallel rather than one after another;
 * the next getJSON(url) without a token takes the response.
 */
export function prefetch(url) {
  if (!early.has(url)) {
    const response = fetch(url, { headers: { Accept: 'application/json' } });
    response.catch(() => null); // a failure surfaces in the getJSON that takes it
    early.set(url, response);
  }
}

/**
 * GET JSON. With {optional: true} a 404 (API not deployed, or no such resource) yields null.
 * `signal` aborts superseded requests (search as you type).
 */
export async function getJSON(url, { optional = false, signal, token } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const ahead = token ? undefined : early.get(url);
  early.delete(url);
  const response = await (ahead || fetch(url, { headers, signal }));
  // A prefetched request cannot be aborted: a caller that gave up in the meantime still sees the abort.
  if (signal && signal.aborted) throw new DOMException('The request was superseded.', 'AbortError');
  if (response.ok) return response.json();
  if (optional && (response.status === 404 || response.status === 405)) return null;
  throw new ApiError(response.status, await problemOf(response));
}

/** POST/PUT a JSON body (or nothing) with an optional bearer token; returns the JSON answer. */
export async function sendJSON(method, url, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await problemOf(response);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** One line describing a problem: title, detail and where (file, feature, row, column). */
export function problemText(problem) {
  if (!problem) return '';
  const where = ['file', 'layer', 'feature', 'row', 'column']
    .filter((k) => problem[k] !== undefined && problem[k] !== null)
    .map((k) => `${k} ${problem[k]}`)
    .join(', ');
  const main = [problem.title, problem.detail].filter(Boolean).join(': ');
  return where ? `${main} (${where})` : main;
}
