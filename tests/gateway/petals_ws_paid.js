// Pays a priced gateway over chat.petals.dev's WebSocket API with the npm `ws` package: an
// unpaid generate gets {"ok": false, "status_code": 402, "invoice", "macaroon"}; the invoice is
// paid from a devnet wallet and the retry carries "authorization"; the next turn of the
// session needs no new token. Prints one JSON line.
// Usage: node petals_ws_paid.js BASE_URL MODEL QUESTION WALLET_BINARY WALLET_URI
const WebSocket = require('ws');
const { execFileSync } = require('child_process');

const [baseUrl, model, question, walletBin, walletUri] = process.argv.slice(2);
const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/v2/generate`);
const queue = [];
const waiters = [];
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  if (waiters.length) waiters.shift()(m); else queue.push(m);
});
const next = () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));

async function generate(inputs, extra) {
  ws.send(JSON.stringify({ type: 'generate', inputs, max_new_tokens: 1, stop_sequence: '<|im_end|>', do_sample: 0, ...extra }));
  let text = '';
  for (;;) {
    const m = await next();
    if (!m.ok) return m;
    text += m.outputs;
    if (m.stop) return { ok: true, text: text.replace('<|im_end|>', '') };
  }
}

async function main() {
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.send(JSON.stringify({ type: 'open_inference_session', model, max_length: 256 }));
  const opened = await next();
  const prompt = `<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`;
  const refusal = await generate(prompt, {});
  const paid = JSON.parse(execFileSync(walletBin, ['--wallet', walletUri, 'pay', refusal.invoice]).toString());
  const authorization = `L402 ${refusal.macaroon}:${paid.preimage}`;
  const first = await generate(prompt, { authorization });
  const second = await generate(`\n<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`, {});
  const forged = await generate(prompt, { authorization: `L402 ${refusal.macaroon}:${'00'.repeat(32)}` });
  ws.close();
  console.log(JSON.stringify({ opened, refusal, authorization, first, second, forged }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
