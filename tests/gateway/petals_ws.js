// Speaks chat.petals.dev's WebSocket API (/api/v2/generate) with the npm `ws` package the way
// its web page does: open_inference_session, then generate with max_new_tokens 1 and a
// stop_sequence, streaming replies until "stop": true, then a second turn that sends only the
// new turn. Also tries the bad inputs (generate before open, a binary frame, bad JSON) on a
// second socket. Prints one JSON line. Usage: node petals_ws.js BASE_URL MODEL QUESTION
const WebSocket = require('ws');

const [baseUrl, model, question] = process.argv.slice(2);
const wsUrl = `${baseUrl.replace(/^http/, 'ws')}/api/v2/generate`;

// Opens a socket whose messages are read one at a time with next().
function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl);
    const queue = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const message = JSON.parse(isBinary ? data.toString() : data.toString());
      if (waiters.length) waiters.shift()(message); else queue.push(message);
    });
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      send: (obj) => ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)),
      next: () => new Promise((res) => (queue.length ? res(queue.shift()) : waiters.push(res))),
    }));
  });
}

async function turn(s, inputs) {
  s.send({ type: 'generate', inputs, max_new_tokens: 1, stop_sequence: '<|im_end|>', do_sample: 0, temperature: 0.6, top_p: 0.9 });
  let text = '';
  let replies = 0;
  for (;;) {
    const m = await s.next();
    if (!m.ok) return { error: m.traceback };
    replies += 1;
    text += m.outputs;
    if (m.stop) return { text: text.replace('<|im_end|>', ''), replies };
  }
}

async function main() {
  const s = await connect();
  s.send({ type: 'open_inference_session', model, max_length: 256 });
  const opened = await s.next();
  const first = await turn(s, `<|im_start|>user\n${question}<|im_end|>\n<|im_start|>assistant\n`);
  const second = await turn(s, '\n<|im_start|>user\nWhat is 6 * 7?<|im_end|>\n<|im_start|>assistant\n');
  // Without a stop sequence: exactly one reply of up to max_new_tokens tokens.
  s.send({ type: 'generate', inputs: '\n<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n', max_new_tokens: 3 });
  const single = await s.next();
  s.ws.close();

  const bad = await connect();
  bad.send({ type: 'generate', inputs: 'hello', max_new_tokens: 1 });
  const beforeOpen = await bad.next();
  bad.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const binary = await bad.next();
  bad.send('{"type": "open_inference_session", ');
  const malformed = await bad.next();
  bad.send({ type: 'open_inference_session', model: 'no-such-model', max_length: 64 });
  const unknownModel = await bad.next();
  bad.send({ type: 'open_inference_session', max_length: 8 });
  const openedSmall = await bad.next();
  bad.send({ type: 'generate', inputs: 'x '.repeat(40), max_new_tokens: 1 });
  const tooLong = await bad.next();
  bad.ws.close();
  console.log(JSON.stringify({ opened, first, second, single, beforeOpen, binary, malformed, unknownModel, openedSmall, tooLong }));
}

main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
