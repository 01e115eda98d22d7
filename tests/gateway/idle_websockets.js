// Holds many idle chat.petals.dev WebSockets (npm `ws`) open on a gateway: each opens an
// inference session and then waits. On a stdin line it checks that every socket still
// answers (a generate with nothing to continue gets its error at once), prints one JSON line
// and closes them. Usage: node idle_websockets.js BASE_URL MODEL COUNT
const WebSocket = require('ws');
const readline = require('readline');

const [baseUrl, model, count] = process.argv.slice(2);
const url = `${baseUrl.replace(/^http/, 'ws')}/api/v2/generate`;

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const waiters = [];
    ws.on('message', (data) => { if (waiters.length) waiters.shift()(JSON.parse(data.toString())); });
    ws.on('error', reject);
    ws.on('open', () => resolve({ ws, ask: (m) => new Promise((res) => { waiters.push(res); ws.send(JSON.stringify(m)); }) }));
  });
}

async function main() {
  const sockets = [];
  for (let i = 0; i < Number(count); i += 1) sockets.push(await open());
  const opened = await Promise.all(sockets.map((s) => s.ask({ type: 'open_inference_session', model, max_length: 64 })));
  console.log(JSON.stringify({ ready: opened.filter((m) => m.ok).length }));
  const rl = readline.createInterface({ input: process.stdin });
  await new Promise((res) => rl.once('line', res));
  const started = Date.now();
  const replies = await Promise.all(sockets.map((s) => s.ask({ type: 'generate' })));
  console.log(JSON.stringify({
    answered: replies.filter((m) => m.ok === false && /nothing to continue/.test(m.traceback)).length,
    still_open: sockets.filter((s) => s.ws.readyState === WebSocket.OPEN).length,
    ms: Date.now() - started,
  }));
  sockets.forEach((s) => s.ws.close());
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
