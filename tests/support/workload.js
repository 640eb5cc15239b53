#!/usr/bin/env node
/*
 * The chaos test's workload and its oracle (tests/integration/chaos.sh).
 *
 *   workload.js gen --dir DIR [--seed N] [--customers N] [--prefix P]
 *        [--trials N] [--head-compatible]
 *       writes, for a deterministic (seeded) workload of entitlements
 *       grants (some with an empty list, some resource-scoped), usage
 *       updates and purges of N customers (default 300):
 *         DIR/initial.jsonl  the grants sent, and settled, before the mix;
 *         DIR/mix.jsonl      the rest, every event once or more (duplicates),
 *                            shuffled: one SQS message body a line, for
 *                            `sqs.js send-batch QUEUE_URL - < DIR/mix.jsonl`;
 *         DIR/rounds/NNN.jsonl  the same events without duplicates in
 *                            version order: round k holds the k-th event of
 *                            every customer, for an in-order replay (send a
 *                            round, let it settle, send the next);
 *         DIR/oracle.json    {"prefix", "keys": {key: value}, "entities":
 *                            {entity key: class}}: the final Redis state of
 *                            the SDK-visible keys (P:c_<id>[:r_<res>], its
 *                            :metadata and :f_<feature> keys, each with its
 *                            #timestamp) after an in-order replay.
 *       and prints a summary (messages, customers per class) on stdout.
 *       --head-compatible leaves out what main before issue 7 is known to
 *       get wrong even in order (an empty list without accessDeniedReason,
 *       a customer id that extends another's, "x" and "x:eu"), so that
 *       an in-order replay through that binary checks the oracle itself.
 *
 *   workload.js compare --oracle DIR/oracle.json --port N [--host H]
 *        [--limit N]
 *       reads every P:c_* key of the Redis at H:N (SCAN and MGET over
 *       node's net, RESP spoken here) except the daemon's own "#purged"
 *       and "#keys" keys, and prints each key that differs from the oracle
 *       (values compared as JSON, #timestamp as text; TTLs are not
 *       compared), at most --limit of them, then one summary line.  Exit 0
 *       when Redis equals the oracle, 1 when it does not, 2 on an error.
 *
 * The oracle models the daemon's writes (the plan of issue 7):
 * - a grant at version T of entity E (a customer, or a customer's
 *   resource) is skipped when T <= E's purge marker (or, for a resource,
 *   its customer's); else each of its keys (E, E:metadata, E:f_<x> of each
 *   metered feature) is written where the key's #timestamp is absent or
 *   <= T.  An empty list is a write of "{}" and the metadata key;
 * - a usage update at version T of E:f_x: the same, and only when E is
 *   cached (E#timestamp exists);
 * - a purge at version P of E: E's marker becomes max(marker, P); every
 *   key of E (and, for a customer, of each of its resources) whose
 *   #timestamp is <= P is removed.
 * "Only when cached" makes a usage update's fate depend on when it
 * arrives, so every entity (customer or resource) belongs to one class
 * whose in-order result does not depend on the order of arrival:
 *   a  the newest event touching it is a grant G, every purge touching it
 *      (its own and its customer's) is older than G, and its usage
 *      updates are older than G and name features G meters;
 *   b  the newest event touching it is a purge: nothing of it remains;
 *   c  no purge touches it, and its oldest event, a grant, is sent and
 *      settled before the mix (initial.jsonl): every key ends with its
 *      newest writer.
 * gen proves it: it replays each customer's events --trials times
 * (default 30) in random orders, with duplicates, through the same model
 * and fails unless every replay ends in the oracle's state.
 *
 * Versions are spelled as the spec allows: entitlementsUpdatedAt as an
 * ISO-8601 string or epoch ms (sometimes with a later "timestamp" that
 * must not be taken), or only "timestamp"; usage "timestamp" (nested
 * form) or "usageUpdatedAt" (flat form); purge "timestamp".  Types come in
 * both spellings; some bodies are wrapped in an SNS notification.
 */
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');

function die(msg, code) {
  console.error(`workload: ${msg}`);
  process.exit(code === undefined ? 2 : code);
}
function usage(msg) {
  die(`${msg}\nusage: workload.js gen --dir DIR [--seed N] [--customers N] [--prefix P] [--trials N] [--head-compatible]\n` +
      '       workload.js compare --oracle FILE --port N [--host H] [--limit N]', 64);
}

// --- deterministic randomness (mulberry32) ---

function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)), // lo..hi
    chance: (p) => next() < p,
    pick: (a) => a[Math.floor(next() * a.length)],
    shuffle(arr) {
      for (let i = arr.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [arr[i], arr[j]] = [arr[j], arr[i]];
      }
      return arr;
    },
  };
}

// --- what the daemon renders (events.c), for the features used here ---

const FEATURES = {
  'api-calls': { featureType: 'NUMBER', meterType: 'INCREMENTAL', unit: 'call', units: 'calls', metered: true, period: true },
  seats: { featureType: 'NUMBER', meterType: 'FLUCTUATING', unit: 'seat', units: 'seats', metered: true, period: false },
  sso: { featureType: 'BOOLEAN', metered: false },
};
// A metered feature no grant names: usage updates for it still land on a
// cached customer.
const UNGRANTED = 'storage';
const PERIOD_START = Date.UTC(2025, 10, 1);
const PERIOD_END = Date.UTC(2030, 0, 1);
const iso = (ms) => new Date(ms).toISOString();

function usageValue(cur, start, end) {
  return JSON.stringify({ currentUsage: cur, usagePeriodStart: start, usagePeriodEnd: end });
}

// The grant's entitlement list as sent, and the values it writes.
function grantBody(g) {
  const list = [];
  const ent = {};
  const usageKeys = {};
  for (const f of g.features) {
    const d = FEATURES[f.id];
    const feature = { id: f.id, featureType: d.featureType };
    if (d.meterType) feature.meterType = d.meterType;
    if (d.unit) { feature.unit = d.unit; feature.units = d.units; }
    const e = { feature, hasUnlimitedUsage: f.id === 'seats', hasSoftLimit: false };
    const ce = {
      feature: {
        id: f.id, featureType: d.featureType,
        ...(d.meterType ? { meterType: d.meterType === 'INCREMENTAL' ? 'Incremental' : 'Fluctuating' } : {}),
        units: d.unit || '', unitsPlural: d.units || '',
      },
    };
    if (g.resource !== null) ce.resourceId = g.resource;
    const fu = {};
    if (f.id === 'api-calls') {
      Object.assign(e, {
        usageLimit: f.limit, currentUsage: f.usage, resetPeriod: 'MONTH',
        usagePeriodAnchor: iso(PERIOD_START), usagePeriodStart: iso(PERIOD_START), usagePeriodEnd: iso(PERIOD_END),
      });
      ce.usageLimit = f.limit;
      Object.assign(fu, {
        resetPeriod: 'MONTH', currentUsage: f.usage,
        usagePeriodAnchor: PERIOD_START, usagePeriodStart: PERIOD_START, usagePeriodEnd: PERIOD_END,
      });
      usageKeys[f.id] = usageValue(f.usage, PERIOD_START, PERIOD_END);
    } else if (f.id === 'seats') {
      Object.assign(e, { usageLimit: null, currentUsage: f.usage });
      ce.usageLimit = null;
      fu.currentUsage = f.usage;
      usageKeys[f.id] = usageValue(f.usage, null, null);
    } else {
      fu.currentUsage = 0;
    }
    ce.hasUnlimitedUsage = e.hasUnlimitedUsage;
    ce.hasSoftLimit = false;
    ce.enumValues = [];
    list.push(e);
    ent[f.id] = { calculatedEntitlement: ce, featureUsage: fu };
  }
  return {
    list,
    entValue: JSON.stringify(ent),
    metaValue: JSON.stringify({ accessDeniedReason: g.reason === undefined ? null : g.reason }),
    usageKeys,
  };
}

// --- the model of the daemon's Redis writes ---

// Entity keys: P:c_<customer> and P:c_<customer>:r_<resource>.
const entityKey = (prefix, customer, resource) =>
  `${prefix}:c_${customer}${resource === null ? '' : `:r_${resource}`}`;

class Model {
  constructor() {
    this.kv = new Map();      // key -> {value, ts}
    this.purged = new Map();  // entity key -> newest purge version
    this.index = new Map();   // entity key -> Set of its keys written
    this.resources = new Map(); // customer entity key -> Set of resource entity keys
  }

  set(entity, key, value, ts) {
    const cur = this.kv.get(key);
    if (cur && cur.ts > ts) return;
    this.kv.set(key, { value, ts });
    if (!this.index.has(entity)) this.index.set(entity, new Set());
    this.index.get(entity).add(key);
  }

  skipped(ev) {
    const p = this.purged.get(ev.entity);
    const cp = ev.customerEntity === ev.entity ? undefined : this.purged.get(ev.customerEntity);
    return (p !== undefined && ev.version <= p) || (cp !== undefined && ev.version <= cp);
  }

  removeOlder(entity, version) {
    for (const k of this.index.get(entity) || []) {
      const cur = this.kv.get(k);
      if (cur && cur.ts <= version) this.kv.delete(k);
    }
  }

  apply(ev) {
    const E = ev.entity;
    if (ev.kind === 'grant') {
      if (this.skipped(ev)) return;
      this.set(E, E, ev.values.entValue, ev.version);
      this.set(E, `${E}:metadata`, ev.values.metaValue, ev.version);
      for (const [f, v] of Object.entries(ev.values.usageKeys)) this.set(E, `${E}:f_${f}`, v, ev.version);
      if (E !== ev.customerEntity) {
        if (!this.resources.has(ev.customerEntity)) this.resources.set(ev.customerEntity, new Set());
        this.resources.get(ev.customerEntity).add(E);
      }
    } else if (ev.kind === 'usage') {
      if (!this.kv.has(E) || this.skipped(ev)) return;
      this.set(E, `${E}:f_${ev.feature}`, ev.value, ev.version);
    } else {
      this.purged.set(E, Math.max(this.purged.get(E) || 0, ev.version));
      this.removeOlder(E, ev.version);
      if (E === ev.customerEntity) for (const r of this.resources.get(E) || []) this.removeOlder(r, ev.version);
    }
  }

  // The SDK-visible keys: each value key and its #timestamp.
  state() {
    const out = {};
    for (const k of [...this.kv.keys()].sort()) {
      const { value, ts } = this.kv.get(k);
      out[k] = value;
      out[`${k}#timestamp`] = String(ts);
    }
    return out;
  }
}

function replay(events) {
  const m = new Model();
  for (const ev of events) m.apply(ev);
  return m.state();
}

// --- the workload ---

function genFeatures(r) {
  if (r.chance(0.15)) return [];
  const some = Object.keys(FEATURES).filter(() => r.chance(0.6));
  return some.length ? some : [r.pick(Object.keys(FEATURES))];
}

/*
 * One customer and its resources: the events of each entity in version
 * order, built so that each entity keeps its class (see the top).
 */
function genGroup(r, opt, idx, customer) {
  const prefix = opt.prefix;
  const cls = r.next() < 0.4 ? 'a' : r.next() < 0.45 ? 'b' : 'c';
  const nres = r.chance(0.7) ? 0 : r.chance(0.65) ? 1 : 2;
  const cE = entityKey(prefix, customer, null);
  const entities = [{ resource: null, key: cE, cls }];
  for (let j = 0; j < nres; j++) {
    const rid = `site:${j}/eu`;
    const rcls = cls === 'c' ? r.pick(['a', 'b', 'c']) : r.pick(['a', 'b']);
    entities.push({ resource: rid, key: entityKey(prefix, customer, rid), cls: rcls });
  }
  const mk = (kind, ent, extra) => ({ kind, resource: ent.resource, entity: ent.key, customerEntity: cE, customer, ...extra });

  // The middle: grants, usage updates, and the purges the classes allow.
  const initial = [];
  const middle = [];
  const tail = [];
  for (const ent of entities) {
    const isCust = ent.resource === null;
    if (ent.cls === 'c') initial.push(mk('grant', ent));
    for (let i = r.int(isCust ? 1 : 0, isCust ? 4 : 3); i > 0; i--) middle.push(mk('grant', ent));
    for (let i = r.int(0, 4); i > 0; i--) middle.push(mk('usage', ent));
    // No purge in class c.  A customer's purges touch its resources too,
    // so only a class-c customer may have class-c resources (above).
    if (ent.cls !== 'c') for (let i = r.int(0, 2); i > 0; i--) middle.push(mk('purge', ent));
  }
  r.shuffle(middle);
  // The newest events: a class-b customer's final purge first (it touches
  // the resources, whose own final events must come after it), then the
  // final grant or purge of every other entity, in any order.
  const finals = [];
  for (const ent of entities) {
    if (ent.cls === 'a') finals.push(mk('grant', ent, { final: true }));
    else if (ent.cls === 'b' && (ent.resource === null || cls !== 'b' || r.chance(0.5))) finals.push(mk('purge', ent, { final: true }));
  }
  const custFinalPurge = finals.findIndex((e) => e.kind === 'purge' && e.resource === null);
  if (custFinalPurge >= 0) tail.push(finals.splice(custFinalPurge, 1)[0]);
  tail.push(...r.shuffle(finals));
  const timeline = [...initial, ...middle, ...tail];

  // Versions: strictly increasing along the timeline (distinct within the
  // group), a few seconds apart.
  let t = Date.UTC(2025, 10, 14) + idx * 600000;
  for (const ev of timeline) {
    t += r.int(1, 5000);
    ev.version = t;
  }

  // Contents.  Usage updates of a class-a entity name a feature its final
  // grant meters (else "only when cached" would decide); without one,
  // they are dropped.
  const finalGrant = new Map();
  for (const ev of timeline) if (ev.kind === 'grant') finalGrant.set(ev.entity, ev);
  const events = [];
  for (const ev of timeline) {
    ev.serial = opt.serial++;
    if (ev.kind === 'grant') {
      const features = genFeatures(r);
      ev.features = features.map((id) => ({ id, limit: 100 + ev.serial, usage: ev.serial % 997 }));
      if (!features.length) {
        const reasons = ['CustomerNoActiveSubscription', 'CustomerResourceNotFound'];
        ev.reason = opt.headCompatible || r.chance(0.5) ? r.pick(reasons) : undefined;
      }
      ev.values = grantBody(ev);
    }
    events.push(ev);
  }
  const classOf = new Map(entities.map((e) => [e.key, e.cls]));
  for (const ev of events) {
    if (ev.kind !== 'usage') continue;
    let choices = ['api-calls', 'seats', UNGRANTED];
    if (classOf.get(ev.entity) === 'a') choices = Object.keys(finalGrant.get(ev.entity).values.usageKeys);
    if (!choices.length) { ev.drop = true; continue; }
    ev.feature = r.pick(choices);
    ev.usage = 1000 + ev.serial;
    ev.value = ev.feature === 'api-calls' || ev.feature === UNGRANTED
      ? usageValue(ev.usage, PERIOD_START, PERIOD_END) : usageValue(ev.usage, null, null);
  }
  const kept = events.filter((e) => !e.drop);
  for (const ev of kept) ev.body = render(r, ev);
  return {
    customer, entities, events: kept,
    initial: kept.filter((e) => initial.includes(e)),
    rest: kept.filter((e) => !initial.includes(e)),
  };
}

// The SQS message body of an event, spelled one of the ways the spec allows.
function render(r, ev) {
  let o;
  const id = `w-${ev.serial}`;
  if (ev.kind === 'grant') {
    o = { type: r.pick(['entitlements.updated', 'ENTITLEMENTS_UPDATED']), messageId: id, customer: { id: ev.customer } };
    if (ev.resource !== null) {
      if (r.chance(0.5)) o.resource = { id: ev.resource };
      else o.resourceId = ev.resource;
    } else if (r.chance(0.3)) o.resource = null;
    const how = r.next();
    if (how < 0.45) o.entitlementsUpdatedAt = iso(ev.version);
    else if (how < 0.7) o.entitlementsUpdatedAt = ev.version;
    else if (how < 0.85) {
      // The publish time, later than the data's: not the version.
      o.timestamp = iso(ev.version + 3600000);
      o.entitlementsUpdatedAt = iso(ev.version);
    } else o.timestamp = iso(ev.version);
    o.accessDeniedReason = ev.reason === undefined ? null : ev.reason;
    if (ev.reason === undefined && r.chance(0.5)) delete o.accessDeniedReason;
    o.entitlements = ev.values.list;
  } else if (ev.kind === 'usage') {
    const period = ev.feature !== 'seats';
    if (r.chance(0.5)) {
      o = {
        type: r.pick(['measurement.reported', 'MEASUREMENT_REPORTED']), messageId: id,
        customer: { id: ev.customer }, resource: ev.resource === null ? null : { id: ev.resource },
        feature: { id: ev.feature, featureType: 'NUMBER', meterType: ev.feature === 'seats' ? 'FLUCTUATING' : 'INCREMENTAL' },
        currentChange: 1, currentUsage: ev.usage,
        ...(period ? { usagePeriodStart: iso(PERIOD_START), usagePeriodEnd: iso(PERIOD_END) } : {}),
        timestamp: iso(ev.version),
      };
    } else {
      o = {
        type: 'MEASUREMENT_REPORTED', customerId: ev.customer, resourceId: ev.resource, featureId: ev.feature,
        currentUsage: ev.usage,
        ...(period ? { usagePeriodStart: PERIOD_START, usagePeriodEnd: PERIOD_END } : {}),
        usageUpdatedAt: ev.version,
      };
    }
  } else if (ev.resource === null && r.chance(0.5)) {
    o = {
      type: r.pick(['customer.deleted', 'CUSTOMER_DELETED']), messageId: id, timestamp: iso(ev.version),
      entityId: `u-${ev.serial}`, id: ev.customer, name: 'Chaos', email: null, metadata: {},
    };
  } else {
    o = { type: 'PURGE_CUSTOMER_PERSISTENT_CACHE_REQUESTED', messageId: id, customerId: ev.customer, timestamp: iso(ev.version) };
    if (ev.resource !== null) o.resourceId = ev.resource;
  }
  const text = JSON.stringify(o);
  if (r.chance(0.1)) {
    return JSON.stringify({
      Type: 'Notification', MessageId: `sns-${ev.serial}`,
      TopicArn: 'arn:aws:sns:us-east-1:000000000000:stigg', Message: text, Timestamp: iso(ev.version),
    });
  }
  return text;
}

function sameState(a, b) {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => b[k] === a[k]);
}

// Each class holds: random arrival orders, with duplicates, end in the
// in-order state.  Throws on the first group that does not.
function proveOrderFree(r, g, oracle, trials) {
  for (let t = 0; t < trials; t++) {
    const mixed = [];
    for (const ev of g.rest) for (let n = r.int(1, 3); n > 0; n--) mixed.push(ev);
    const got = replay([...g.initial, ...r.shuffle(mixed)]);
    if (!sameState(got, oracle)) {
      throw new Error(`customer ${g.customer}: arrival order changes the result (classes ${g.entities.map((e) => e.cls).join('')}):\n` +
        `in order ${JSON.stringify(oracle)}\nshuffled ${JSON.stringify(got)}`);
    }
  }
}

function gen(args) {
  const opt = { dir: null, seed: 1, customers: 300, prefix: 'production', trials: 30, headCompatible: false, serial: 1 };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
    if (a === '--dir') opt.dir = val();
    else if (a === '--seed') opt.seed = Number(val());
    else if (a === '--customers') opt.customers = Number(val());
    else if (a === '--prefix') opt.prefix = val();
    else if (a === '--trials') opt.trials = Number(val());
    else if (a === '--head-compatible') opt.headCompatible = true;
    else usage(`unknown argument ${a}`);
  }
  if (!opt.dir) usage('gen needs --dir');
  for (const k of ['seed', 'customers', 'trials']) {
    if (!Number.isInteger(opt[k]) || opt[k] < 0) usage(`--${k} takes a non-negative integer`);
  }
  const r = rng(opt.seed);
  const proof = rng(opt.seed ^ 0x5eed); // its own stream: --trials changes no message
  const groups = [];
  const oracle = {};
  const classes = {};
  const counts = { a: 0, b: 0, c: 0 };
  for (let i = 0; i < opt.customers; i++) {
    // Every tenth customer's id extends the one before it ("x" and
    // "x:eu"): a purge of one must not touch the other.  Some ids carry
    // glob characters and non-ASCII.
    let customer = `chaos-${i}`;
    if (i % 7 === 3) customer += ':ü*';
    if (i % 10 === 1 && !opt.headCompatible) customer = `${groups[i - 1].customer}:eu`;
    const g = genGroup(r, opt, i, customer);
    const want = replay([...g.initial, ...g.rest.slice().sort((x, y) => x.version - y.version)]);
    proveOrderFree(proof, g, want, opt.trials);
    Object.assign(oracle, want);
    for (const e of g.entities) { classes[e.key] = e.cls; counts[e.cls]++; }
    groups.push(g);
  }
  // Groups are independent (no key of one is a key of another), so the
  // union of their states is the whole oracle.
  const nkeys = Object.keys(oracle).length;

  fs.mkdirSync(path.join(opt.dir, 'rounds'), { recursive: true });
  fs.writeFileSync(path.join(opt.dir, 'initial.jsonl'),
    groups.flatMap((g) => g.initial.map((e) => `${e.body}\n`)).join(''));
  const mix = [];
  let dups = 0;
  for (const g of groups) {
    for (const ev of g.rest) {
      const n = r.chance(0.6) ? 1 : r.chance(0.75) ? 2 : 3;
      dups += n - 1;
      for (let k = 0; k < n; k++) mix.push(ev.body);
    }
  }
  r.shuffle(mix);
  fs.writeFileSync(path.join(opt.dir, 'mix.jsonl'), mix.map((m) => `${m}\n`).join(''));
  let nrounds = 0;
  for (const g of groups) nrounds = Math.max(nrounds, g.events.length);
  for (let k = 0; k < nrounds; k++) {
    const lines = [];
    for (const g of groups) {
      const inorder = [...g.initial, ...g.rest.slice().sort((x, y) => x.version - y.version)];
      if (k < inorder.length) lines.push(`${inorder[k].body}\n`);
    }
    fs.writeFileSync(path.join(opt.dir, 'rounds', `${String(k).padStart(3, '0')}.jsonl`), lines.join(''));
  }
  fs.writeFileSync(path.join(opt.dir, 'oracle.json'),
    `${JSON.stringify({ prefix: opt.prefix, seed: opt.seed, keys: oracle, entities: classes }, null, 1)}\n`);

  const kinds = { grant: 0, usage: 0, purge: 0, empty: 0 };
  for (const g of groups) {
    for (const e of g.events) {
      kinds[e.kind]++;
      if (e.kind === 'grant' && !e.features.length) kinds.empty++;
    }
  }
  const ninit = groups.reduce((n, g) => n + g.initial.length, 0);
  console.log(`workload seed ${opt.seed}: ${opt.customers} customers, ` +
    `entities in class a ${counts.a}, b ${counts.b}, c ${counts.c}; ` +
    `${kinds.grant} grants (${kinds.empty} empty), ${kinds.usage} usage updates, ${kinds.purge} purges; ` +
    `${ninit} initial messages, ${mix.length} in the mix (${dups} duplicates), ${nrounds} rounds; ` +
    `oracle: ${nkeys} keys; order-free in ${opt.trials} shuffles of each customer`);
}

// --- compare: Redis against the oracle ---

// A minimal RESP client: one connection, commands answered in order.
function redisClient(host, port) {
  const sock = net.connect({ host, port });
  const waiting = [];
  let buf = Buffer.alloc(0);
  let failure = null;

  // Parses one reply at buf[pos]: [value, next pos], or null if incomplete.
  function parse(pos) {
    if (pos >= buf.length) return null;
    const eol = buf.indexOf('\r\n', pos);
    if (eol < 0) return null;
    const type = String.fromCharCode(buf[pos]);
    const line = buf.toString('utf8', pos + 1, eol);
    const after = eol + 2;
    switch (type) {
      case '+': return [line, after];
      case '-': return [new Error(line), after];
      case ':': return [Number(line), after];
      case '$': {
        const n = Number(line);
        if (n < 0) return [null, after];
        if (buf.length < after + n + 2) return null;
        return [buf.subarray(after, after + n), after + n + 2];
      }
      case '*': {
        const n = Number(line);
        if (n < 0) return [null, after];
        const out = [];
        let p = after;
        for (let i = 0; i < n; i++) {
          const r = parse(p);
          if (r === null) return null;
          out.push(r[0]);
          p = r[1];
        }
        return [out, p];
      }
      default:
        throw new Error(`redis: unexpected reply type ${JSON.stringify(type)}`);
    }
  }

  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      const r = parse(0);
      if (r === null) break;
      buf = buf.subarray(r[1]);
      const w = waiting.shift();
      if (w) w(r[0]);
    }
  });
  sock.on('error', (e) => {
    failure = e;
    while (waiting.length) waiting.shift()(e);
  });
  return {
    call(...argv) {
      if (failure) return Promise.reject(failure);
      let out = `*${argv.length}\r\n`;
      const parts = [];
      for (const a of argv) {
        const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a), 'utf8');
        parts.push(Buffer.from(`${out}$${b.length}\r\n`), b, Buffer.from('\r\n'));
        out = '';
      }
      sock.write(Buffer.concat(parts));
      return new Promise((resolve, reject) => {
        waiting.push((v) => (v instanceof Error ? reject(v) : resolve(v)));
      });
    },
    close() { sock.end(); },
  };
}

function globEscape(s) {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function sameValue(key, got, want) {
  if (got === want) return true;
  if (key.endsWith('#timestamp')) return false;
  try {
    require('assert').deepStrictEqual(JSON.parse(got), JSON.parse(want));
    return true;
  } catch (e) {
    return false;
  }
}

const clip = (s) => (s.length > 300 ? `${s.slice(0, 300)}...` : s);

async function compare(args) {
  let file = null;
  let host = '127.0.0.1';
  let port = null;
  let limit = Infinity;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => (i + 1 < args.length ? args[++i] : usage(`${a} needs a value`));
    if (a === '--oracle') file = val();
    else if (a === '--host') host = val();
    else if (a === '--port') port = Number(val());
    else if (a === '--limit') limit = Number(val());
    else usage(`unknown argument ${a}`);
  }
  if (!file || !Number.isInteger(port)) usage('compare needs --oracle FILE and --port N');
  let oracle;
  try { oracle = JSON.parse(fs.readFileSync(file, 'utf8')); } catch (e) { die(`${file}: ${e.message}`); }
  const want = oracle.keys;
  const entities = Object.keys(oracle.entities).sort((a, b) => b.length - a.length);
  const classOf = (k) => {
    const e = entities.find((x) => k === x || k.startsWith(`${x}:`) || k.startsWith(`${x}#`));
    return e ? oracle.entities[e] : '?';
  };

  const c = redisClient(host, port);
  const seen = new Set();
  let cursor = '0';
  do {
    const [next, keys] = await c.call('SCAN', cursor, 'MATCH', `${globEscape(oracle.prefix)}:c_*`, 'COUNT', 1000);
    cursor = next.toString();
    for (const k of keys) seen.add(k.toString('utf8'));
  } while (cursor !== '0');
  const keys = [...seen].filter((k) => !k.endsWith('#purged') && !k.endsWith('#keys')).sort();
  const got = {};
  for (let i = 0; i < keys.length; i += 500) {
    const chunk = keys.slice(i, i + 500);
    const vals = await c.call('MGET', ...chunk);
    for (let j = 0; j < chunk.length; j++) {
      if (vals[j] !== null) got[chunk[j]] = vals[j].toString('utf8');
      else got[chunk[j]] = `(${(await c.call('TYPE', chunk[j]))} value)`; // not a string, or gone since the SCAN
    }
  }
  c.close();

  let missing = 0;
  let extra = 0;
  let differ = 0;
  let shown = 0;
  const show = (line) => { if (shown++ < limit) console.log(line); };
  const all = [...new Set([...Object.keys(want), ...Object.keys(got)])].sort();
  const perClass = {};
  for (const k of all) {
    let bad = true;
    if (!(k in got)) { missing++; show(`missing ${k} [class ${classOf(k)}]: want ${clip(want[k])}`); }
    else if (!(k in want)) { extra++; show(`extra ${k} [class ${classOf(k)}]: got ${clip(got[k])}`); }
    else if (!sameValue(k, got[k], want[k])) {
      differ++;
      show(`differs ${k} [class ${classOf(k)}]: got ${clip(got[k])}, want ${clip(want[k])}`);
    } else bad = false;
    if (bad) perClass[classOf(k)] = (perClass[classOf(k)] || 0) + 1;
  }
  if (shown > limit) console.log(`... ${shown - limit} more`);
  const nbad = missing + extra + differ;
  const by = Object.entries(perClass).map(([k, n]) => `${k} ${n}`).join(', ');
  console.log(`compare: ${Object.keys(want).length} keys wanted, ${Object.keys(got).length} in Redis: ` +
    (nbad ? `${missing} missing, ${extra} extra, ${differ} differ (by class: ${by})` : 'equal'));
  return nbad ? 1 : 0;
}

async function main() {
  const [cmd, ...rest] = process.argv.slice(2);
  if (cmd === 'gen') { gen(rest); return 0; }
  if (cmd === 'compare') return compare(rest);
  return usage(cmd ? `unknown command ${cmd}` : 'no command');
}

main().then((rc) => process.exit(rc), (e) => die(e.stack || e.message));
