// Cross-checks petalsln's macaroons against an independent implementation, the npm package
// `macaroon` 3.0.4 (installed in tests/js by scripts/install-js-deps.sh).
//
//   node macaroon_crosscheck.js HELPER
//
// HELPER is petalsln-macaroon-js-helper (see macaroon_js_helper.cpp). Macaroons minted by
// petalsln must import and verify in JS with their caveats read back identical; macaroons
// minted in JS must deserialize and verify in petalsln, byte-identical to petalsln's own;
// tampered or re-signed ones must fail on both sides. Exits 0 when every check holds.
'use strict';

const assert = require('assert');
const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const Module = require('module');
const path = require('path');

const JS_DIR = path.resolve(__dirname, '..', 'js');
const macaroon = require(require.resolve('macaroon', { paths: [JS_DIR] }));

// macaroon 3.0.4's ByteBuffer._grow compares against `this._capacity`, which is never set,
// so every append doubles the buffer: exportBinary() of a macaroon with a few caveats asks
// for gigabytes. This loads a private copy of the package with that one comparison fixed,
// used only for binary export; importing and verifying use the package as published.
function loadPatchedMacaroon() {
  const file = require.resolve('macaroon', { paths: [JS_DIR] });
  const source = fs.readFileSync(file, 'utf8');
  const broken = 'if (minCap <= this._capacity) {';
  assert(source.includes(broken), 'macaroon.js changed: the ByteBuffer patch no longer applies');
  const patched = new Module(file, module);
  patched.filename = file;
  patched.paths = Module._nodeModulePaths(path.dirname(file));
  patched._compile(source.replace(broken, 'if (minCap <= this._buf.length) {'), file);
  return patched.exports;
}
const patchedMacaroon = loadPatchedMacaroon();

const helper = process.argv[2];
if (!helper) {
  console.error('usage: node macaroon_crosscheck.js HELPER');
  process.exit(2);
}

function runHelper(args) {
  const out = childProcess.execFileSync(helper, args, { encoding: 'utf8' });
  return JSON.parse(out);
}

const hex = bytes => Buffer.from(bytes).toString('hex');
const utf8 = bytes => Buffer.from(bytes).toString('utf8');
const std64 = bytes => Buffer.from(bytes).toString('base64');

// Binary export through the patched copy: re-import into it, then export.
function exportBinary(m) {
  return patchedMacaroon.importMacaroon(m.exportJSON()).exportBinary();
}

let checks = 0;
function check(name, fn) {
  fn();
  checks++;
  console.log(`ok ${checks} - ${name}`);
}

function expectThrow(fn, what) {
  assert.throws(fn, Error, what);
}

const rootKey = crypto.randomBytes(32);
const otherKey = crypto.randomBytes(32);
// An L402 identifier: version 0, payment hash, token id.
const identifier = Buffer.concat([Buffer.from([0, 0]), crypto.randomBytes(32), crypto.randomBytes(32)]);
const location = 'petalsln';
const peer = crypto.randomBytes(32).toString('hex');
const caveats = [
  'service=petalsln',
  'model=meta-llama/Llama-3.2-1B',
  `peer=${peer}`,
  'blocks=0-16',
  'credit=250000',
  'expires=4102444800',
  'note=Escrivá ✓',  // UTF-8 beyond ASCII
];
const allowAll = cond => (caveats.includes(cond) ? null : `unexpected caveat ${cond}`);

// --- petalsln -> JS ---------------------------------------------------------------------
const minted = runHelper(['mint', rootKey.toString('hex'), identifier.toString('hex'), location, ...caveats]);

check('petalsln macaroon imports in JS with identical fields (standard padded base64)', () => {
  const m = macaroon.importMacaroon(minted.base64);
  assert.strictEqual(m.location, location);
  assert.strictEqual(hex(m.identifier), identifier.toString('hex'));
  assert.deepStrictEqual(m.caveats.map(c => utf8(c.identifier)), caveats);
  assert(m.caveats.every(c => c.vid === undefined), 'all caveats first-party');
  assert.strictEqual(hex(m.signature), minted.signature);
});

check('petalsln macaroon imports in JS from URL-safe unpadded base64 too', () => {
  const m = macaroon.importMacaroon(minted.base64_url);
  assert.strictEqual(hex(m.signature), minted.signature);
  assert.strictEqual(macaroon.bytesToBase64(exportBinary(m)), minted.base64_url);
});

check('petalsln macaroon verifies in JS with the same root key', () => {
  macaroon.importMacaroon(minted.base64).verify(rootKey, allowAll);
});

check('petalsln macaroon fails in JS with another key or an unsatisfied caveat', () => {
  const m = macaroon.importMacaroon(minted.base64);
  expectThrow(() => m.verify(otherKey, allowAll), 'wrong key');
  expectThrow(() => m.verify(rootKey, c => (c === 'credit=250000' ? 'no credit' : allowAll(c))), 'caveat refused');
});

check('tampered petalsln macaroon fails in JS', () => {
  const bytes = Buffer.from(minted.binary_hex, 'hex');
  const at = bytes.indexOf(Buffer.from('credit=250000')) + 7;
  bytes[at] = '9'.charCodeAt(0);  // credit=950000
  const m = macaroon.importMacaroon(new Uint8Array(bytes));
  expectThrow(() => m.verify(rootKey, () => null), 'tampered caveat');
  const id = Buffer.from(minted.binary_hex, 'hex');
  id[id.indexOf(identifier) + 40] ^= 1;
  expectThrow(() => macaroon.importMacaroon(new Uint8Array(id)).verify(rootKey, () => null), 'tampered identifier');
});

// --- JS -> petalsln ---------------------------------------------------------------------
function jsMint(key, cavs) {
  const m = macaroon.newMacaroon({ identifier: new Uint8Array(identifier), location, rootKey: new Uint8Array(key) });
  cavs.forEach(c => m.addFirstPartyCaveat(c));
  return m;
}

check('JS macaroon is byte-identical to petalsln\'s for the same inputs', () => {
  const m = jsMint(rootKey, caveats);
  assert.strictEqual(hex(exportBinary(m)), minted.binary_hex);
  assert.strictEqual(hex(m.signature), minted.signature);
  // The unpatched JSON export carries the same signature and caveats.
  const j = m.exportJSON();
  assert.strictEqual(j.v, 2);
  assert.deepStrictEqual(j.c.map(c => c.i), caveats);
  assert.strictEqual(Buffer.from(j.s64, 'base64').toString('hex'), minted.signature);
});

check('JS macaroon deserializes and verifies in petalsln (both base64 forms)', () => {
  const bin = exportBinary(jsMint(rootKey, caveats));
  for (const text of [std64(bin), macaroon.bytesToBase64(bin)]) {
    const r = runHelper(['verify', rootKey.toString('hex'), text, ...caveats]);
    assert.strictEqual(r.parsed, true, r.error);
    assert.strictEqual(r.valid, true, r.reason);
    assert.strictEqual(r.location, location);
    assert.strictEqual(r.identifier_hex, identifier.toString('hex'));
    assert.deepStrictEqual(r.caveats, caveats);
  }
});

check('JS macaroon fails in petalsln with another key or an unknown caveat', () => {
  const text = std64(exportBinary(jsMint(rootKey, caveats)));
  assert.strictEqual(runHelper(['verify', otherKey.toString('hex'), text, ...caveats]).valid, false);
  assert.strictEqual(runHelper(['verify', rootKey.toString('hex'), text, ...caveats.slice(1)]).valid, false);
});

check('tampered and re-signed JS macaroons fail in petalsln', () => {
  const bin = Buffer.from(exportBinary(jsMint(rootKey, caveats)));
  const at = bin.indexOf(Buffer.from('blocks=0-16')) + 10;
  bin[at] = '9'.charCodeAt(0);  // blocks=0-19
  const tampered = runHelper(['verify', rootKey.toString('hex'), std64(bin), ...caveats, 'blocks=0-19']);
  assert.strictEqual(tampered.parsed, true);
  assert.strictEqual(tampered.valid, false);
  const resigned = std64(exportBinary(jsMint(otherKey, caveats)));
  assert.strictEqual(runHelper(['verify', rootKey.toString('hex'), resigned, ...caveats]).valid, false);
  const truncated = std64(bin.subarray(0, bin.length - 5));
  assert.strictEqual(runHelper(['verify', rootKey.toString('hex'), truncated, ...caveats]).parsed, false);
});

check('a caveat added in JS to a petalsln macaroon narrows it under petalsln\'s L402 checker', () => {
  const l402Caveats = caveats.slice(0, 6);
  const base = runHelper(['mint', rootKey.toString('hex'), identifier.toString('hex'), location, ...l402Caveats]);
  const m = macaroon.importMacaroon(base.base64);
  const args = (text, b, e) => ['verify-l402', rootKey.toString('hex'), text, 'meta-llama/Llama-3.2-1B', peer, b, e,
    '1700000000'];
  const plain = runHelper(args(base.base64, '0', '16'));
  assert.strictEqual(plain.valid, true, plain.reason);
  assert.strictEqual(plain.credit, 250000);
  m.addFirstPartyCaveat('credit=10');
  m.addFirstPartyCaveat('blocks=4-100');  // wider above: only the intersection 4-16 counts
  const narrowed = std64(exportBinary(m));
  const r = runHelper(args(narrowed, '4', '16'));
  assert.strictEqual(r.valid, true, r.reason);
  assert.strictEqual(r.credit, 10);
  assert.strictEqual(r.block_begin, 4);
  assert.strictEqual(r.block_end, 16);
  assert.strictEqual(runHelper(args(narrowed, '0', '16')).valid, false);
  assert.strictEqual(runHelper(args(narrowed, '4', '17')).valid, false);
  m.addFirstPartyCaveat('admin=true');
  assert.strictEqual(runHelper(args(std64(exportBinary(m)), '4', '16')).valid, false);
});

console.log(`all ${checks} macaroon cross-checks passed`);
