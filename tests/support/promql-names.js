#!/usr/bin/env node
/*
 * Check that PromQL expressions name only the metrics the daemon exports,
 * with their own labels and label values: the shipped alert rules and
 * Grafana dashboard are written against the metric catalogue, and a
 * misspelt name or label value there gives an alert that never fires or
 * a panel that stays empty without any error.
 *
 *   node tests/support/promql-names.js [--allow NAME]... METRICS DASHBOARD.json
 *   node tests/support/promql-names.js [--allow NAME]... METRICS - <exprs
 *   node tests/support/promql-names.js --dump DASHBOARD.json
 *   node tests/support/promql-names.js --queries DASHBOARD.json [INSTANCE]
 *   node tests/support/promql-names.js --exposition METRICS SCRAPE
 *
 * METRICS is tests/data/monitoring/metrics.txt (name, type, labels).  The
 * expressions are every target's expr of the dashboard's panels (rows'
 * panels too) and its query variables' label_values(), or, with "-", one
 * expression a line on stdin.  --allow NAME accepts a metric that is not
 * the daemon's (Prometheus' own up), with only job and instance labels.
 * Prints one line per expression ("ok: ..." or "FAIL: ...") and exits 1
 * when one fails, 2 when there is no expression at all.
 *
 * --dump prints a Prometheus rules file with the dashboard's expressions
 * as recording rules, Grafana's variables replaced by values PromQL
 * accepts ($__rate_interval by 5m, $instance by .*), for promtool to parse.
 * --queries prints the same expressions one a line, $instance replaced by
 * INSTANCE (default .*), for a real Prometheus to evaluate.
 *
 * --exposition checks a scrape of the daemon (the text format, a file or
 * "-") against METRICS, both ways: every family it renders (its # TYPE
 * line; a histogram by its base name) is listed, with the same type, and
 * every listed one is rendered; every series of a family has exactly the
 * listed label names (a histogram's _bucket le besides); and the values a
 * closed label takes over the family's series are exactly the listed
 * ones.  One line per family ("ok: ..." or "FAIL: ..."); exits 1 when one
 * fails.
 *
 * The scan is a tokenizer, not a parser: strings, durations and numbers
 * are skipped, an identifier followed by "(" is a function or aggregation,
 * by/without/on/ignoring/group_left/group_right take a label list, the
 * binary keywords are skipped, and any other identifier is a metric name,
 * with its {matchers} when they follow.  Enough for what the shipped files
 * hold; promtool checks their syntax.
 */
'use strict';
const fs = require('fs');

const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan']);
const COMMON = new Set(['job', 'instance']);

function loadCatalogue(path) {
  const metrics = new Map();
  for (const raw of fs.readFileSync(path, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, type, ...labels] = line.split(/\s+/);
    if (!/^(counter|gauge|histogram)$/.test(type)) throw new Error(`${path}: ${name}: bad type '${type}'`);
    const lm = new Map();
    for (const l of labels) {
      const [k, v] = l.split('=');
      lm.set(k, v === undefined ? null : new Set(v.split(',')));
    }
    metrics.set(name, { type, labels: lm });
  }
  return metrics;
}

/* The series name NAME resolves to: { labels } or null. */
function resolve(metrics, allow, name) {
  if (allow.has(name)) return { labels: new Map() };
  const m = metrics.get(name);
  if (m) return m.type === 'histogram' ? null : m;
  const h = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (!h) return null;
  const base = metrics.get(h[1]);
  if (!base || base.type !== 'histogram') return null;
  if (h[2] !== 'bucket') return base;
  const labels = new Map(base.labels);
  labels.set('le', null);
  return { labels };
}

/* Skip a quoted string starting at s[i]; returns the index after it. */
function skipString(s, i) {
  const q = s[i];
  for (i++; i < s.length; i++) {
    if (s[i] === '\\' && q !== '`') i++;
    else if (s[i] === q) return i + 1;
  }
  throw new Error('unterminated string');
}

function unquote(lit) {
  if (lit[0] === '`') return lit.slice(1, -1);
  return lit.slice(1, -1).replace(/\\(.)/g, '$1');
}

/* The metric references of EXPR: { refs: [{name, matchers}], grouping: [label] } */
function scan(expr) {
  const refs = [], grouping = [];
  let i = 0;
  const n = expr.length;
  const spaces = () => { while (i < n && /\s/.test(expr[i])) i++; };
  while (i < n) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {
      i = skipString(expr, i);
    } else if (c === '[') {
      const j = expr.indexOf(']', i);
      if (j < 0) throw new Error('unterminated [');
      i = j + 1;
    } else if (c === '{') {
      throw new Error('a selector without a metric name');
    } else if (c === '$') {
      i++;
      while (i < n && /[\w{}]/.test(expr[i])) i++;
    } else if (/[0-9.]/.test(c)) {
      while (i < n && /[\w.+]/.test(expr[i]) && !(expr[i] === '+' && !/[eE]/.test(expr[i - 1]))) i++;
    } else if (/[A-Za-z_:]/.test(c)) {
      const start = i;
      while (i < n && /[\w:]/.test(expr[i])) i++;
      const id = expr.slice(start, i);
      spaces();
      if (GROUPING.has(id)) {
        if (expr[i] !== '(') continue;       /* group_left without labels */
        const j = expr.indexOf(')', i);
        if (j < 0) throw new Error(`unterminated ${id} (`);
        for (const l of expr.slice(i + 1, j).split(',').map((x) => x.trim()).filter(Boolean))
          grouping.push(l);
        i = j + 1;
      } else if (expr[i] === '(' || KEYWORDS.has(id.toLowerCase()) ||
          /^(by|without)\s*\(/.test(expr.slice(i))) {
        /* a function, an aggregation (sum by (...) (...) too) or a keyword */
      } else {
        const matchers = [];
        if (expr[i] === '{') {
          i++;
          const re = /\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)\s*,?/y;
          for (;;) {
            spaces();
            if (expr[i] === '}') { i++; break; }
            re.lastIndex = i;
            const m = re.exec(expr);
            if (!m) throw new Error(`cannot read the matchers of ${id} at "${expr.slice(i, i + 20)}"`);
            matchers.push({ label: m[1], op: m[2], value: unquote(m[3]) });
            i = re.lastIndex;
          }
        }
        refs.push({ name: id, matchers });
      }
    } else {
      i++;
    }
  }
  return { refs, grouping };
}

/* The problems of EXPR against the catalogue: a list of strings. */
function check(metrics, allow, expr) {
  const problems = [];
  let scanned;
  const lv = /^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*$/.exec(expr);
  try {
    scanned = scan(lv ? lv[1] : expr);
  } catch (e) {
    return [e.message];
  }
  if (lv) scanned.grouping.push(lv[2]);
  if (scanned.refs.length === 0) problems.push('names no metric');
  const seen = [];
  for (const { name, matchers } of scanned.refs) {
    const m = resolve(metrics, allow, name);
    if (!m) { problems.push(`${name} is not a metric of the daemon`); continue; }
    seen.push(m);
    for (const { label, op, value } of matchers) {
      if (COMMON.has(label)) continue;
      if (!m.labels.has(label)) { problems.push(`${name} has no label ${label}`); continue; }
      const set = m.labels.get(label);
      if (set === null || value.includes('$')) continue;
      let values;
      if (op === '=' || op === '!=') values = [value];
      else if (/^[\w|]+$/.test(value)) values = value.split('|');
      else continue;
      for (const v of values)
        if (!set.has(v)) problems.push(`${name}{${label}}: '${v}' is not one of ${[...set].join(', ')}`);
    }
  }
  for (const l of scanned.grouping)
    if (!COMMON.has(l) && seen.length > 0 && !seen.some((m) => m.labels.has(l)))
      problems.push(`no metric of the expression has the label ${l}`);
  return problems;
}

function dashboardExprs(path) {
  const d = JSON.parse(fs.readFileSync(path, 'utf8'));
  const out = [];
  const walk = (panels) => {
    for (const p of panels || []) {
      for (const t of p.targets || []) if (t.expr !== undefined) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      walk(p.panels);
    }
  };
  walk(d.panels);
  for (const v of (d.templating && d.templating.list) || []) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : v.query && v.query.query;
    out.push({ where: `variable ${v.name}`, expr: q });
  }
  return out;
}

/* A dashboard's expression as PromQL: Grafana's variables replaced. */
function promql(expr, instance) {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m')
    .replace(/\$\{?instance\}?/g, instance);
}

/* The label pairs of a sample's {...}: [[name, value]...] */
function sampleLabels(text, line) {
  const out = [];
  const re = /\s*([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let i = 0;
  while (i < text.length) {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) throw new Error(`cannot read the labels of "${line}"`);
    out.push([m[1], m[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1')]);
    i = re.lastIndex;
  }
  return out;
}

/* The families of a scrape: name -> { type, series: [Map label -> value] } */
function loadScrape(text) {
  const fams = new Map();
  const orphans = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const t = /^# TYPE (\S+) (\S+)\s*$/.exec(line);
    if (t) {
      if (fams.has(t[1])) throw new Error(`# TYPE ${t[1]} twice`);
      fams.set(t[1], { type: t[2], series: [] });
      continue;
    }
    if (line[0] === '#') continue;
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+\S+(\s+-?\d+)?\s*$/.exec(line);
    if (!m) throw new Error(`cannot read the sample "${line}"`);
    const labels = new Map(sampleLabels(m[2] || '', line));
    let fam = fams.get(m[1]);
    const h = /^(.*)_(bucket|sum|count)$/.exec(m[1]);
    if ((!fam || fam.type === 'histogram') && h && fams.has(h[1]) && fams.get(h[1]).type === 'histogram') {
      fam = fams.get(h[1]);
      if (h[2] === 'bucket') {
        if (!labels.has('le')) { orphans.push(`${m[1]} without le`); continue; }
        labels.delete('le');
      }
    } else if (fam && fam.type === 'histogram') {
      fam = undefined;
    }
    if (!fam) { orphans.push(`${m[1]}: a sample of no family (# TYPE)`); continue; }
    fam.series.push(labels);
  }
  return { fams, orphans };
}

function exposition(metricsPath, scrapePath) {
  const metrics = loadCatalogue(metricsPath);
  const { fams, orphans } = loadScrape(fs.readFileSync(scrapePath === '-' ? 0 : scrapePath, 'utf8'));
  const sorted = (xs) => [...xs].sort();
  const setEq = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
  let bad = 0;
  for (const o of orphans) { console.log(`FAIL: ${o}`); bad++; }
  for (const name of sorted(new Set([...metrics.keys(), ...fams.keys()]))) {
    const want = metrics.get(name), got = fams.get(name);
    const problems = [];
    if (!got) problems.push('listed, not rendered');
    else if (!want) problems.push(`rendered (${got.type}, ${got.series.length} series), not listed`);
    else {
      if (got.type !== want.type) problems.push(`rendered as ${got.type}, listed as ${want.type}`);
      const names = new Set(want.labels.keys());
      for (const s of got.series) {
        const have = new Set(s.keys());
        if (!setEq(have, names)) {
          problems.push(`a series has the labels {${sorted(have).join(',')}}, listed {${sorted(names).join(',')}}`);
          break;
        }
      }
      for (const [label, values] of want.labels) {
        if (values === null) continue;
        const seen = new Set(got.series.map((s) => s.get(label)).filter((v) => v !== undefined));
        const extra = sorted([...seen].filter((v) => !values.has(v)));
        const missing = sorted([...values].filter((v) => !seen.has(v)));
        if (extra.length) problems.push(`${label}: rendered, not listed: ${extra.join(', ')}`);
        if (missing.length) problems.push(`${label}: listed, not rendered: ${missing.join(', ')}`);
      }
    }
    if (problems.length) { console.log(`FAIL: ${name}: ${problems.join('; ')}`); bad++; }
    else console.log(`ok: ${name} ${got.type}, ${got.series.length} series`);
  }
  return bad > 0 ? 1 : 0;
}

function main(argv) {
  const allow = new Set();
  let mode = null;
  const args = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--allow') allow.add(argv[++i]);
    else if (/^--(dump|queries|exposition)$/.test(argv[i])) mode = argv[i].slice(2);
    else args.push(argv[i]);
  }
  if (mode === 'exposition') {
    if (args.length !== 2) throw new Error('usage: --exposition METRICS SCRAPE');
    return exposition(args[0], args[1]);
  }
  if (mode === 'queries') {
    if (args.length < 1 || args.length > 2) throw new Error('usage: --queries DASHBOARD.json [INSTANCE]');
    for (const { where, expr } of dashboardExprs(args[0]))
      if (!where.startsWith('variable ')) console.log(promql(expr, args[1] || '.*'));
    return 0;
  }
  if (mode === 'dump') {
    if (args.length !== 1) throw new Error('usage: --dump DASHBOARD.json');
    let out = 'groups:\n  - name: dashboard\n    rules:\n', n = 0;
    for (const { where, expr } of dashboardExprs(args[0])) {
      if (where.startsWith('variable ')) continue;
      /* A JSON string is a YAML double-quoted scalar. */
      out += `      - record: dashboard:expr_${++n}\n        expr: ${JSON.stringify(promql(expr, '.*'))}\n`;
    }
    process.stdout.write(out);
    return 0;
  }
  if (args.length !== 2) throw new Error('usage: [--allow NAME]... METRICS (DASHBOARD.json | -)');
  const metrics = loadCatalogue(args[0]);
  const exprs = args[1] === '-'
    ? fs.readFileSync(0, 'utf8').split('\n').filter((l) => l.trim() !== '').map((expr, i) => ({ where: `line ${i + 1}`, expr }))
    : dashboardExprs(args[1]);
  if (exprs.length === 0) { console.log('FAIL: no expression'); return 2; }
  let bad = 0;
  for (const { where, expr } of exprs) {
    if (typeof expr !== 'string' || expr.trim() === '') { console.log(`FAIL: ${where}: no expression`); bad++; continue; }
    const problems = check(metrics, allow, expr);
    if (problems.length === 0) console.log(`ok: ${where}: ${expr}`);
    else { console.log(`FAIL: ${where}: ${problems.join('; ')}: ${expr}`); bad++; }
  }
  return bad > 0 ? 1 : 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.log(`FAIL: ${e.message}`);
  process.exitCode = 2;
}
