#!/usr/bin/env node
// spec-check.mjs: holds openapi.yaml to the server's real answers.
//   node spec-check.mjs openapi.yaml EXCHANGES.jsonl
// 1. Lints the spec with Redocly (recommended rules; errors and warnings fail,
//    each kept warning is listed in .redocly.lint-ignore.yaml with its reason).
// 2. Validates every exchange the integration suite recorded (harness.c,
//    LEADD_SPEC_LOG): the path and method are in the spec, the status is
//    documented for the operation, the media type is one it documents, a JSON
//    body is valid against its schema, documented required headers are sent.
//    A path the spec lacks may only answer 404; a method a path lacks, 405
//    with Allow naming exactly the documented methods.
// 3. Fails when an operation of the spec was never exercised: a spec without
//    its endpoint. (tests/unit/test_openapi.c checks the other direction: a
//    route the server registers without its spec.)
//   (EXCHANGES may be a directory: every .jsonl file in it.)
// Prints cmocka-style summary lines so tests/run.sh counts it.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { lint, loadConfig } from '@redocly/openapi-core';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const here = dirname(fileURLToPath(import.meta.url));
const [specPath, exchangesPath] = process.argv.slice(2);
if (!specPath || !exchangesPath) {
  console.error('usage: spec-check.mjs openapi.yaml EXCHANGES.jsonl|DIR');
  process.exit(2);
}

const results = [];
function check(name, fn) {
  console.log(`[ RUN      ] ${name}`);
  const errors = [];
  try {
    fn(errors);
  } catch (e) {
    errors.push(String(e && e.stack || e));
  }
  for (const e of errors.slice(0, 40)) console.log(`  ${e}`);
  if (errors.length > 40) console.log(`  ... and ${errors.length - 40} more`);
  console.log(errors.length ? `[  FAILED  ] ${name}` : `[       OK ] ${name}`);
  results.push(errors.length === 0);
}

const spec = YAML.parse(readFileSync(specPath, 'utf8'));

// Redocly's linter as a library (@redocly/openapi-core, pinned to a version
// that runs on the Node.js Debian ships); its ignore file sits beside the
// config, as the CLI would read it.
const lintConfig = await loadConfig({ configPath: join(here, 'redocly.yaml') });
const lintProblems = await lint({ ref: resolve(specPath), config: lintConfig });
check('spec_lint', (errors) => {
  // Errors and warnings alike fail: a new one must be fixed or justified in
  // .redocly.lint-ignore.yaml.
  for (const p of lintProblems.filter((q) => !q.ignored)) {
    const where = (p.location || []).map((l) => l.pointer).join(', ');
    errors.push(`redocly ${p.severity} ${p.ruleId}: ${p.message} (${where})`);
  }
});

// ---- matching exchanges to operations ----
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const paths = Object.keys(spec.paths);
const literal = (p) => !p.includes('{');
function segmentsMatch(tpl, path) {
  const a = tpl.split('/'), b = path.split('/');
  return a.length === b.length && a.every((s, i) => (s.startsWith('{') ? b[i] !== '' : s === b[i]));
}
// A concrete path wins over a templated one, as the server routes.
function findPath(path) {
  return paths.find((p) => literal(p) && p === path) ||
         paths.find((p) => !literal(p) && segmentsMatch(p, path));
}
function deref(obj) {
  while (obj && obj.$ref) {
    const ptr = obj.$ref.replace(/^#\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = ptr.reduce((o, k) => o[k], spec);
  }
  return obj;
}
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(spec, 'openapi');
const validators = new Map();
function validatorAt(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `openapi#${pointer}` }));
  return validators.get(pointer);
}
// The response object of an operation for a status, and the pointer to it
// once references are followed.
function responseOf(op, opPtr, status) {
  for (const key of [String(status), `${String(status)[0]}XX`, 'default']) {
    const r = op.responses && op.responses[key];
    if (!r) continue;
    if (r.$ref) return { resp: deref(r), ptr: r.$ref.slice(1) };
    return { resp: r, ptr: `${opPtr}/responses/${esc(key)}` };
  }
  return null;
}
// The last header block curl saw (after any 100 Continue), as a map.
function parseHeaders(raw) {
  const blocks = raw.split(/\r?\n\r?\n/).filter((b) => b.trim());
  const last = blocks.length ? blocks[blocks.length - 1] : '';
  const map = new Map();
  for (const line of last.split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) map.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return map;
}

const exercised = new Set();
let count = 0;
check('answers_match_spec', (errors) => {
  // a file, or a directory of them (tests/run.sh: one per job)
  const files = statSync(exchangesPath).isDirectory()
    ? readdirSync(exchangesPath).filter((f) => f.endsWith('.jsonl')).map((f) => join(exchangesPath, f))
    : [exchangesPath];
  const lines = files.flatMap((f) => readFileSync(f, 'utf8').split('\n').filter(Boolean));
  if (lines.length < 100) errors.push(`only ${lines.length} exchanges recorded: was LEADD_SPEC_LOG set?`);
  for (const line of lines) {
    const x = JSON.parse(line);
    count++;
    try {
      checkExchange(x, errors);
    } catch (e) {
      errors.push(`${x.method} ${x.path.slice(0, 120)} -> ${x.status}: ${e.message}`);
    }
  }
});

function checkExchange(x, errors) {
  {
    const path = x.path.split('?')[0];
    const where = `${x.method} ${x.path.slice(0, 120)} -> ${x.status}`;
    const fail = (msg) => errors.push(`${where}: ${msg}`);
    const headers = parseHeaders(x.headers);
    const ctype = (headers.get('content-type') || '').split(';')[0].trim();
    // A JSON body against its schema; a sequence (NDJSON) line by line
    // against the schema the spec names in x-item-schema.
    const validateBody = (ptr, media, resp) => {
      if (x.body === null || x.method === 'HEAD') return; // too large, or no body sent
      const mptr = `${ptr}/content/${esc(media)}`;
      const one = (text, v) => {
        let value;
        try { value = JSON.parse(text); } catch { return fail(`body is not JSON: ${text.slice(0, 80)}`); }
        if (!v(value)) fail(`body does not match the schema: ${ajv.errorsText(v.errors)}; body ${text.slice(0, 200)}`);
      };
      if (media === 'application/json' || media.endsWith('+json')) {
        if (!deref(resp.content[media]).schema) return fail(`no schema documented for ${media}`);
        return one(x.body, validatorAt(`${mptr}/schema`));
      }
      if (deref(resp.content[media])['x-item-schema']) {
        const v = validatorAt(`${mptr}/x-item-schema`);
        for (const text of x.body.split('\n').filter(Boolean)) one(text, v);
      }
    };
    // RFC 9110 11.6.1: every 401, from whatever route, names a challenge.
    if (x.status === 401 && !headers.get('www-authenticate')) fail('401 without WWW-Authenticate');
    const tpl = findPath(path);
    // A mail's link mangled on its way (more after the token, a trailing or
    // an encoded slash) gets the link's 404 page (openapi.yaml, LinkPage).
    if (!tpl && x.status === 404 && ctype === 'text/html' && /^\/v1\/(confirm|unsubscribe)\//.test(path))
      return;
    if (!tpl) {
      if (x.status !== 404 || ctype !== 'application/problem+json') return fail('path not in openapi.yaml');
      const v = validatorAt('/components/schemas/Problem');
      if (!v(JSON.parse(x.body))) fail(`404 body: ${ajv.errorsText(v.errors)}`);
      return;
    }
    const item = spec.paths[tpl];
    const m = x.method === 'HEAD' && !item.head ? 'get' : x.method.toLowerCase();
    const op = item[m];
    if (!op) {
      if (x.status !== 405) return fail(`method not in openapi.yaml for ${tpl}`);
      const documented = METHODS.filter((k) => item[k]).map((k) => k.toUpperCase());
      if (documented.includes('GET')) documented.splice(documented.indexOf('GET') + 1, 0, 'HEAD');
      const allow = (headers.get('allow') || '').split(',').map((s) => s.trim()).filter(Boolean);
      if ([...allow].sort().join(', ') !== [...documented].sort().join(', '))
        fail(`Allow: '${allow.join(', ')}', documented: '${documented.join(', ')}'`);
      const v = validatorAt('/components/schemas/Problem');
      if (!v(JSON.parse(x.body))) fail(`405 body: ${ajv.errorsText(v.errors)}`);
      return;
    }
    exercised.add(`${m.toUpperCase()} ${tpl}`);
    const opPtr = `/paths/${esc(tpl)}/${m}`;
    const found = responseOf(op, opPtr, x.status);
    if (!found) return fail(`status ${x.status} not documented for ${m.toUpperCase()} ${tpl}`);
    const { resp, ptr } = found;
    for (const [name, h] of Object.entries(resp.headers || {})) {
      if (deref(h).required && !headers.has(name.toLowerCase())) fail(`required header ${name} missing`);
    }
    if (!resp.content) {
      if (x.body_len > 0) fail(`a body (${x.body_len} bytes) where the spec documents none`);
      return;
    }
    if (!ctype) {
      if (x.method !== 'HEAD') fail('no Content-Type');
      return;
    }
    if (!(ctype in resp.content)) return fail(`media type ${ctype} not documented (${Object.keys(resp.content).join(', ')})`);
    validateBody(ptr, ctype, resp);
  }
}

check('every_operation_exercised', (errors) => {
  for (const p of paths) {
    for (const m of METHODS) {
      if (spec.paths[p][m] && !exercised.has(`${m.toUpperCase()} ${p}`))
        errors.push(`${m.toUpperCase()} ${p} is in openapi.yaml but no test called it`);
    }
  }
});

const passed = results.filter(Boolean).length, failed = results.length - passed;
console.log(`[==========] ${results.length} test(s) run (${count} exchanges checked).`);
console.log(`[  PASSED  ] ${passed} test(s).`);
if (failed) console.log(`[  FAILED  ] ${failed} test(s).`);
process.exit(failed ? 1 : 0);
