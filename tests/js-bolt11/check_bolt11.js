// The JavaScript half of the BOLT11 cross-check: the npm bolt11 package (an independent
// implementation) decodes the invoices petalsln created and must read the same fields; then it
// signs invoices of its own for petalsln to decode (bolt11_js_helper.cpp check).
//
//   node check_bolt11.js PETALSLN.json NPM_OUT.json COUNT
//
// Exits 1 on any mismatch, naming the invoice and the field.
'use strict'

const crypto = require('crypto')
const fs = require('fs')
const bolt11 = require('bolt11')
const bech32 = require('bech32') // a dependency of bolt11

const [, , petalslnPath, outPath, countArg] = process.argv

// npm bolt11 knows bc, tb, bcrt and sb by itself; signet's tbs is passed as a network.
const NETWORKS = {
  bc: { bech32: 'bc', pubKeyHash: 0x00, scriptHash: 0x05, validWitnessVersions: [0, 1] },
  tb: { bech32: 'tb', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  tbs: { bech32: 'tbs', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] },
  bcrt: { bech32: 'bcrt', pubKeyHash: 0x6f, scriptHash: 0xc4, validWitnessVersions: [0, 1] }
}

// npm bolt11's names for feature bits 0..19 (pairs: required = even, supported = odd).
const FEATURE_ORDER = ['option_data_loss_protect', 'initial_routing_sync', 'option_upfront_shutdown_script',
  'gossip_queries', 'var_onion_optin', 'gossip_queries_ex', 'option_static_remotekey', 'payment_secret',
  'basic_mpp', 'option_support_large_channel']

function tag (decoded, name) {
  const t = decoded.tags.find((x) => x.tagName === name)
  return t === undefined ? null : t.data
}

function featureBits (fb) {
  if (fb === null) return []
  const bits = []
  FEATURE_ORDER.forEach((name, i) => {
    if (fb[name] && fb[name].required) bits.push(2 * i)
    if (fb[name] && fb[name].supported) bits.push(2 * i + 1)
  })
  if (fb.extra_bits) fb.extra_bits.bits.forEach((set, j) => { if (set) bits.push(fb.extra_bits.start_bit + j) })
  return bits
}

// The metadata field (type 27) is newer than npm bolt11 1.4.1, which keeps it as an unknown tag.
function metadata (decoded) {
  const t = decoded.tags.find((x) => x.tagName === 'unknownTag' && x.data.tagCode === 27)
  if (t === undefined) return null
  const words = bech32.decode(t.data.words, Number.MAX_SAFE_INTEGER).words
  return Buffer.from(bech32.fromWords(words)).toString('hex')
}

function fallbacks (decoded) {
  return decoded.tags.filter((x) => x.tagName === 'fallback_address')
    .map((x) => ({ version: x.data.code, program: x.data.addressHash }))
}

function routeHints (decoded) {
  return decoded.tags.filter((x) => x.tagName === 'routing_info').map((x) => x.data)
}

// The fields in the form bolt11_js_helper.cpp writes them.
function describe (decoded, prefix) {
  return {
    network: prefix,
    amount_msat: decoded.millisatoshis === null ? null : String(decoded.millisatoshis),
    timestamp: decoded.timestamp,
    payment_hash: tag(decoded, 'payment_hash'),
    payment_secret: tag(decoded, 'payment_secret'),
    description: tag(decoded, 'description'),
    description_hash: tag(decoded, 'purpose_commit_hash'),
    expiry: tag(decoded, 'expire_time'),
    min_final_cltv_expiry: tag(decoded, 'min_final_cltv_expiry'),
    payee: decoded.payeeNodeKey,
    payee_node_id: tag(decoded, 'payee_node_key'),
    features: featureBits(tag(decoded, 'feature_bits')),
    route_hints: routeHints(decoded),
    fallback_addresses: fallbacks(decoded),
    metadata: metadata(decoded)
  }
}

// JSON with object keys sorted, so that field order never counts as a difference.
function canonical (value) {
  return JSON.stringify(value, (key, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v)
}

function checkPetalslnInvoices () {
  const { invoices } = JSON.parse(fs.readFileSync(petalslnPath, 'utf8'))
  let failures = 0
  for (const { bolt11: text, fields } of invoices) {
    const network = fields.network
    let got
    try {
      got = describe(bolt11.decode(text, NETWORKS[network]), network)
    } catch (e) {
      if (++failures <= 10) console.log(`REJECTED by npm bolt11: ${text}\n  ${e.message}`)
      continue
    }
    for (const key of Object.keys(fields)) {
      if (canonical(got[key]) === canonical(fields[key])) continue
      if (++failures <= 10) {
        console.log(`MISMATCH ${text}\n  ${key}: petalsln wrote ${JSON.stringify(fields[key])}, ` +
          `npm bolt11 read ${JSON.stringify(got[key])}`)
      }
    }
  }
  console.log(`npm bolt11 decoded ${invoices.length} invoices created by petalsln: ${failures} mismatches`)
  return failures
}

function randomText () {
  const pieces = ['coffee', ' ', 'ナンセンス 1杯', '🙂', '"quoted"', 'back\\slash', 'block-tokens', 'ü']
  let s = ''
  const n = crypto.randomInt(30)
  for (let i = 0; i < n; i++) s += pieces[crypto.randomInt(pieces.length)]
  return s
}

// One invoice signed by npm bolt11, with the fields petalsln must read back.
function npmInvoice (i) {
  const prefix = ['bcrt', 'bc', 'tb'][i % 3]
  const tags = [
    { tagName: 'payment_hash', data: crypto.randomBytes(32).toString('hex') },
    { tagName: 'payment_secret', data: crypto.randomBytes(32).toString('hex') },
    crypto.randomInt(4) === 0
      ? { tagName: 'purpose_commit_hash', data: crypto.randomBytes(32).toString('hex') }
      : { tagName: 'description', data: randomText() },
    { tagName: 'expire_time', data: 1 + crypto.randomInt(1000000) },
    { tagName: 'min_final_cltv_expiry', data: 1 + crypto.randomInt(2000) },
    { tagName: 'feature_bits', data: { word_length: 3, var_onion_optin: { required: true }, payment_secret: { required: true } } }
  ]
  const req = { network: NETWORKS[prefix], timestamp: 1500000000 + crypto.randomInt(500000000), tags }
  if (crypto.randomInt(4) !== 0) req.millisatoshis = String(1 + crypto.randomInt(2 ** 47))
  let key
  do key = crypto.randomBytes(32); while (key[0] === 0xff)
  const signed = bolt11.sign(bolt11.encode(req, false), key.toString('hex'))
  return { bolt11: signed.paymentRequest, fields: describe(bolt11.decode(signed.paymentRequest, NETWORKS[prefix]), prefix) }
}

function main () {
  if (!outPath) {
    console.error('usage: node check_bolt11.js PETALSLN.json NPM_OUT.json COUNT')
    process.exit(2)
  }
  const failures = checkPetalslnInvoices()
  const count = Number(countArg || 100)
  const invoices = []
  for (let i = 0; i < count; i++) invoices.push(npmInvoice(i))
  fs.writeFileSync(outPath, JSON.stringify({ invoices }, null, 1) + '\n')
  console.log(`npm bolt11 signed ${count} invoices into ${outPath}`)
  process.exit(failures === 0 ? 0 : 1)
}

main()
