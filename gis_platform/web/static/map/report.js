// Rendering of ingest results: the job's validation report (problems per feature, row, column)
// and its error, an RFC 9457 problem with `file`/`feature`/`row`/`column` members.
import { problemText } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

const LIST_KEYS = ['problems', 'issues', 'errors', 'warnings', 'invalid_features'];

/** Every problem listed in a report (under any of the usual keys), as plain objects. */
export function problemsOf(report) {
  if (!report || typeof report !== 'object') return [];
  const out = [];
  for (const key of LIST_KEYS) {
    for (const item of Array.isArray(report[key]) ? report[key] : []) {
      out.push(typeof item === 'string' ? { message: item, kind: key } : { kind: key, ...item });
    }
  }
  return out;
}

function messageOf(p) {
  return p.message || p.detail || p.title || p.reason || p.code || JSON.stringify(p);
}

function problemsTable(problems) {
  return h('table', { class: 'problems' },
    h('caption', { class: 'visually-hidden' }, t('up.problems', { n: problems.length })),
    h('thead', {}, h('tr', {}, ...['up.feature', 'up.row', 'up.column', 'up.message']
      .map((k) => h('th', { scope: 'col' }, t(k))))),
    h('tbody', {}, problems.slice(0, 500).map((p) => h('tr', { class: 'problem' },
      h('td', {}, p.feature ?? p.fid ?? p.index ?? ''), h('td', {}, p.row ?? ''), h('td', {}, p.column ?? p.field ?? ''),
      h('td', {}, messageOf(p))))));
}

/** Scalar facts of the report (feature counts, CRS, encoding …) as a definition table. */
function factsTable(report) {
  const rows = Object.entries(report || {})
    .filter(([key, value]) => !LIST_KEYS.includes(key) && value !== null && typeof value !== 'object')
    .map(([key, value]) => h('tr', {}, h('th', { scope: 'row' }, key), h('td', {}, String(value))));
  return rows.length ? h('table', { class: 'facts' }, h('tbody', {}, rows)) : null;
}

/** The report section for a finished job: its error (if failed), problems, and facts. */
export function renderReport(job) {
  const nodes = [];
  if (job.error) {
    nodes.push(h('p', { class: 'problem-title', role: 'alert' }, problemText(job.error)));
    const nested = problemsOf(job.error);
    if (nested.length) nodes.push(problemsTable(nested));
  }
  const problems = problemsOf(job.report);
  if (problems.length) {
    nodes.push(h('p', {}, t('up.problems', { n: problems.length })), problemsTable(problems));
  } else if (job.status === 'succeeded') {
    nodes.push(h('p', { class: 'ok' }, t('up.noProblems')));
  }
  const facts = factsTable(job.report);
  if (facts) nodes.push(facts);
  return nodes;
}
