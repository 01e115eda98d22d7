// Two turns of a paid chat.petals.dev WebSocket session with the npm `ws` package, with an
// L402 token bought beforehand; prints one JSON line with each turn's text and the final
// reply's "receipt" (the per-message receipt a web page renders).
// Usage: node petals_ws_receipt.js BASE_URL MODEL QUESTION AUTHORIZATION
const WebSocket = require('ws');

const [baseUrl, model, question, authorization] = process.argv.slice(2);
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
    if (m.stop) return { ok: true, text: text.replace('<|im_end|>', ''), receipt: m.receipt, block_tokens: m.block_tokens };
  }
}

async function main() {
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.send(JSON.stringify({ type: 'open_inference_session', model, max_length: 256 }));
  await next();
  const first = await generate(`<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`, { authorization });
  const second = await generate(`\n<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`, {});
  ws.close();
  console.log(JSON.stringify({ first, second }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
