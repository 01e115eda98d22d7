// Pays a priced gateway the way an OpenAI client program would: the official SDK (npm
// `openai`) gets 402 Payment Required with an L402 challenge in WWW-Authenticate, the invoice
// is paid from a devnet wallet (petalsln-wallet pay), and a client with the L402 token as its
// default Authorization header asks again, whole and streamed. Prints one JSON line.
// Usage: node openai_paid.js BASE_URL MODEL QUESTION WALLET_BINARY WALLET_URI
const { OpenAI } = require('openai');
const { execFileSync } = require('child_process');

const [baseUrl, model, question, walletBin, walletUri] = process.argv.slice(2);

// The L402 challenge's parameters (the header may hold the L402 and LSAT forms, joined).
function challengeOf(header) {
  const l402 = header.slice(header.search(/L402 /i));
  const macaroon = /macaroon="([^"]+)"/.exec(l402)[1];
  const invoice = /invoice="([^"]+)"/.exec(l402)[1];
  return { macaroon, invoice, hasLsat: /LSAT macaroon=/i.test(header) };
}

async function main() {
  const messages = [{ role: 'user', content: question }];
  const unpaid = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'unpaid', maxRetries: 0 });
  let refusal = null;
  try {
    await unpaid.chat.completions.create({ model, messages, temperature: 0, max_tokens: 32 });
  } catch (e) {
    // The SDK hands over the response's headers as a Headers object or a plain one, by version.
    const header = typeof e.headers?.get === 'function' ? e.headers.get('www-authenticate') : e.headers?.['www-authenticate'];
    if (!header) throw e;
    refusal = { status: e.status, code: e.code, error: e.error, challenge: challengeOf(header) };
  }
  const paid = JSON.parse(execFileSync(walletBin, ['--wallet', walletUri, 'pay', refusal.challenge.invoice]).toString());
  const authorization = `L402 ${refusal.challenge.macaroon}:${paid.preimage}`;
  const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'unused', maxRetries: 0, defaultHeaders: { Authorization: authorization } });
  const whole = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 32 });
  const stream = await client.chat.completions.create({
    model, messages, temperature: 0, max_tokens: 32, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content || '';
    if (chunk.usage) usage = chunk.usage;
  }
  console.log(JSON.stringify({
    refusal, authorization, whole: whole.choices[0].message.content, whole_usage: whole.usage, stream_text: text, stream_usage: usage,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
