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

// --- the session's bearer token --------------------------------------------------------------------
// Staff sign in with an access token; it lives in sessionStorage (this tab, until it closes) under the
// key the upload page uses too, so one sign-in serves both pages. It never goes into a URL. Pages opt in
// with useSessionAuth(); then every getJSON without an explicit `token` sends it.

/** sessionStorage key of the bearer token, shared by the map and the upload page. */
export const TOKEN_KEY = 'gis.editorToken';

const auth = { enabled: false, token: '', listeners: [] };
/** Responses requested ahead of need (see prefetch): url -> {token, response}, each taken once by getJSON. */
const early = new Map();

function storedToken() {
  try { return (window.sessionStorage.getItem(TOKEN_KEY) || '').trim(); } catch { return ''; }
}

/** Send the session's token (sessionStorage) with every getJSON of this page that names no token. */
export function useSessionAuth() {
  if (!auth.enabled) {
    auth.enabled = true;
    auth.token = storedToken();
  }
}

/** The token of the session ('' when signed out, or when the page did not opt in). */
export function sessionToken() {
  return auth.enabled ? auth.token : '';
}

/**
 * Sign in with `token`, or out with ''. `reason` ('signin', 'signout' or 'rejected': the server
 * answered 401) goes to the onAuthChange listeners, which reload what depends on the caller.
 */
export function setSessionToken(token, reason) {
  const next = String(token || '').trim();
  try {
    if (next) window.sessionStorage.setItem(TOKEN_KEY, next);
    else window.sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: this page still uses the token */ }
  auth.token = next;
  early.clear(); // prefetched responses belong to the previous caller
  for (const fn of auth.listeners) fn({ signedIn: Boolean(next), reason: reason || (next ? 'signin' : 'signout') });
}

/** Call fn({signedIn, reason}) whenever the session's token changes. */
export function onAuthChange(fn) { auth.listeners.push(fn); }

/**
 * Fetch options for a request as `token`: the Authorization header, and no HTTP cache at all, since
 * responses that depend on the caller (internal layers) do not vary on Authorization: a signed-in
 * request must neither take an anonymous response from the cache nor leave its own in it.
 */
export function authorised(token, headers = {}) {
  return token ? { headers: { ...headers, Authorization: `Bearer ${token}` }, cache: 'no-store' } : { headers };
}

/**
 * Start a GET now (as the session's caller), so that the first-render requests run in parallel rather
 * than one after another; the next getJSON(url) by the same caller takes the response.
 */
export function prefetch(url) {
  if (!early.has(url)) {
    const token = sessionToken();
    const response = fetch(url, authorised(token, { Accept: 'application/json' }));
    response.catch(() => null); // a failure surfaces in the getJSON that takes it
    early.set(url, { token, response });
  }
}

/**
 * GET JSON. With {optional: true} a 404 (API not deployed, or no such resource) yields null.
 * `signal` aborts superseded requests (search as you type). Without `token`, the session's token is
 * sent; when the server rejects it (401) the session falls back to anonymous and the request is
 * repeated without it.
 */
export async function getJSON(url, { optional = false, signal, token } = {}) {
  const session = token === undefined;
  const bearer = session ? sessionToken() : token;
  const ahead = early.get(url);
  early.delete(url);
  const response = await (ahead && ahead.token === bearer
    ? ahead.response
    : fetch(url, { ...authorised(bearer, { Accept: 'application/json' }), signal }));
  // A prefetched request cannot be aborted: a caller that gave up in the meantime still sees the abort.
  if (signal && signal.aborted) throw new DOMException('The request was superseded.', 'AbortError');
  if (response.ok) return response.json();
  if (response.status === 401 && session && bearer) {
    if (sessionToken() === bearer) setSessionToken('', 'rejected');
    return getJSON(url, { optional, signal });
  }
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
