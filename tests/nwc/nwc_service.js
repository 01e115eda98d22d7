// A NIP-47 wallet service built on nostr-tools (nip44, nip04, finalizeEvent, verifyEvent),
// backed by a devnet account through the petalsln-wallet CLI: invoices are real devnet BOLT11
// invoices and payments really move devnet balances. The client side of the conversation is
// petalsln's NwcWallet; this side is code nobody in petalsln wrote.
//
// node nwc_service.js --relay URL --wallet-cli PATH --devnet 'devnet:PATH?account=NAME'
//                     --encryption nip44_v2|nip04 [--misbehave MODE] [--ca PEM]
// --ca: the CA certificate a wss:// relay's certificate chains to.
// MODE (responses only; the info event stays honest): bad-sig, wrong-author, wrong-e,
// wrong-p, garbage, silent, error:CODE, bad-preimage.
// Prints {"uri": "nostr+walletconnect://..."} once its info event is published.
'use strict';
const { execFileSync } = require('child_process');
const WebSocket = require('ws');
const { generateSecretKey, getPublicKey, finalizeEvent, verifyEvent } = require('nostr-tools/pure');
const nip44 = require('nostr-tools/nip44');
const nip04 = require('nostr-tools/nip04');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const encryption = args.encryption || 'nip44_v2';
const misbehave = args.misbehave || 'none';

const serviceSk = generateSecretKey();
const servicePk = getPublicKey(serviceSk);
const clientSk = generateSecretKey();
const clientPk = getPublicKey(clientSk);
const hex = (b) => Buffer.from(b).toString('hex');

function cli(...argv) {
  try {
    const out = execFileSync(args['wallet-cli'], [...argv, '--wallet', args.devnet], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { ok: true, json: JSON.parse(out.trim()) };
  } catch (e) {
    return { ok: false, stderr: String(e.stderr || e.message).trim() };
  }
}

function nwcError(code, message) {
  return { error: { code, message } };
}

function handle(method, params) {
  if (misbehave.startsWith('error:')) return nwcError(misbehave.slice(6), 'this service was told to refuse');
  if (method === 'get_balance') {
    const r = cli('balance');
    return r.ok ? { result: { balance: r.json.balance_msat } } : nwcError('INTERNAL', r.stderr);
  }
  if (method === 'make_invoice') {
    const argv = ['invoice', '--amount-msat', String(params.amount)];
    if (params.expiry) argv.push('--expiry-s', String(params.expiry));
    if (params.description_hash) argv.push('--description-hash', params.description_hash);
    else if (params.description) argv.push('--memo', params.description);
    const r = cli(...argv);
    if (!r.ok) return nwcError('OTHER', r.stderr);
    return { result: { type: 'incoming', invoice: r.json.bolt11, payment_hash: r.json.payment_hash, amount: params.amount,
                       description: params.description || '', created_at: Math.floor(Date.now() / 1000) } };
  }
  if (method === 'pay_invoice') {
    const argv = ['pay', params.invoice];
    if (params.amount) argv.push('--amount-msat', String(params.amount));
    const r = cli(...argv);
    if (!r.ok) {
      const code = /balance/i.test(r.stderr) ? 'INSUFFICIENT_BALANCE' : 'PAYMENT_FAILED';
      return nwcError(code, r.stderr);
    }
    const preimage = misbehave === 'bad-preimage' ? '00'.repeat(32) : r.json.preimage;
    return { result: { preimage, fees_paid: r.json.fee_msat } };
  }
  if (method === 'lookup_invoice') {
    const inv = cli('lookup-invoice', '--payment-hash', params.payment_hash);
    if (inv.ok) {
      const s = inv.json;
      return { result: { type: 'incoming', payment_hash: s.payment_hash, amount: s.amount_paid_msat,
                         settled_at: s.settled ? s.settled_at : undefined,
                         state: s.settled ? 'settled' : s.expired ? 'expired' : 'pending' } };
    }
    const pay = cli('lookup-payment', '--payment-hash', params.payment_hash);
    if (pay.ok && pay.json.found) {
      const p = pay.json;
      const state = { succeeded: 'settled', failed: 'failed', pending: 'pending' }[p.status];
      return { result: { type: 'outgoing', payment_hash: p.payment_hash, amount: p.amount_msat, fees_paid: p.fee_msat,
                         preimage: p.preimage, state } };
    }
    return nwcError('NOT_FOUND', 'no invoice or payment with that hash');
  }
  return nwcError('NOT_IMPLEMENTED', `unknown method ${method}`);
}

const ws = new WebSocket(args.relay, args.ca ? { ca: require('fs').readFileSync(args.ca) } : {});
const send = (msg) => ws.send(JSON.stringify(msg));
let infoId = null;

function respond(request, scheme, body) {
  const tags = [['p', misbehave === 'wrong-p' ? hex(generateSecretKey()).slice(0, 64) : request.pubkey],
                ['e', misbehave === 'wrong-e' ? 'ab'.repeat(32) : request.id]];
  const plaintext = misbehave === 'garbage' ? 'not json at all' : JSON.stringify(body);
  const content = scheme === 'nip44_v2'
    ? nip44.encrypt(plaintext, nip44.getConversationKey(serviceSk, request.pubkey))
    : nip04.encrypt(serviceSk, request.pubkey, plaintext);
  // wrong-author: an impostor signs content encrypted with the service's key, so that only
  // the client's author check can reject it.
  const signer = misbehave === 'wrong-author' ? generateSecretKey() : serviceSk;
  let ev = finalizeEvent({ kind: 23195, created_at: Math.floor(Date.now() / 1000), tags, content }, signer);
  if (misbehave === 'bad-sig') {
    // A valid id over the content, but the signature of another message.
    ev = { ...ev, sig: ev.sig.slice(0, 126) + (ev.sig.slice(126) === '00' ? '01' : '00') };
  }
  send(['EVENT', ev]);
}

ws.on('open', () => {
  const info = finalizeEvent({
    kind: 13194, created_at: Math.floor(Date.now() / 1000),
    tags: encryption === 'nip04' ? [] : [['encryption', 'nip44_v2 nip04']],
    content: 'pay_invoice get_balance make_invoice lookup_invoice',
  }, serviceSk);
  infoId = info.id;
  send(['EVENT', info]);
  send(['REQ', 'requests', { kinds: [23194], '#p': [servicePk] }]);
});

ws.on('message', (data) => {
  const msg = JSON.parse(data.toString('utf8'));
  if (msg[0] === 'OK' && msg[1] === infoId) {
    const relay = encodeURIComponent(args.relay);
    console.log(JSON.stringify({ uri: `nostr+walletconnect://${servicePk}?relay=${relay}&secret=${hex(clientSk)}`,
                                 service_pubkey: servicePk, client_pubkey: clientPk }));
    return;
  }
  if (msg[0] !== 'EVENT' || msg[1] !== 'requests') return;
  const request = msg[2];
  if (!verifyEvent(request) || request.kind !== 23194 || request.pubkey !== clientPk) return;
  const encTag = request.tags.find((t) => t[0] === 'encryption');
  const scheme = encTag && encTag[1] === 'nip44_v2' ? 'nip44_v2' : 'nip04';
  let body;
  try {
    if (scheme === 'nip44_v2' && encryption === 'nip04') throw new Error('UNSUPPORTED_ENCRYPTION');
    const plaintext = scheme === 'nip44_v2'
      ? nip44.decrypt(request.content, nip44.getConversationKey(serviceSk, request.pubkey))
      : nip04.decrypt(serviceSk, request.pubkey, request.content);
    const req = JSON.parse(plaintext);
    body = { result_type: req.method, ...handle(req.method, req.params || {}) };
    if (body.result === undefined) body.result = null;
    if (body.error === undefined) body.error = null;
  } catch (e) {
    body = { result_type: 'unknown', error: { code: e.message === 'UNSUPPORTED_ENCRYPTION' ? e.message : 'OTHER', message: String(e.message) }, result: null };
  }
  if (misbehave === 'silent') return;
  respond(request, scheme, body);
});
ws.on('close', () => process.exit(0));
ws.on('error', (e) => { console.error(`nwc_service: ${e.message}`); process.exit(1); });
