// Holds one chat.petals.dev WebSocket session (npm `ws`) for many turns, driven by a test
// over stdin/stdout: each stdin line is a JSON generate message (or {"type": "end"}); each
// answer is one stdout line {"text", "token_count", "prompt_tokens", "block_tokens"} or the
// error. The test can change the swarm between turns. Usage: node petals_ws_turns.js BASE_URL MODEL MAX_LENGTH
const WebSocket = require('ws');
const readline = require('readline');

const [baseUrl, model, maxLength] = process.argv.slice(2);
const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/api/v2/generate`);
const queue = [];
const waiters = [];
ws.on('message', (data) => {
  const m = JSON.parse(data.toString());
  if (waiters.length) waiters.shift()(m); else queue.push(m);
});
const next = () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res)));

async function main() {
  await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
  ws.send(JSON.stringify({ type: 'open_inference_session', model, max_length: Number(maxLength) }));
  console.log(JSON.stringify(await next()));
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const message = JSON.parse(line);
    if (message.type === 'end') break;
    ws.send(JSON.stringify(message));
    let text = '';
    let tokens = 0;
    for (;;) {
      const m = await next();
      if (!m.ok) {
        console.log(JSON.stringify(m));
        break;
      }
      text += m.outputs;
      tokens += m.token_count;
      if (m.stop) {
        console.log(JSON.stringify({ text, token_count: tokens, prompt_tokens: m.prompt_tokens, block_tokens: m.block_tokens }));
        break;
      }
    }
  }
  ws.close();
  process.exit(0);  // stdin may still be open
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
