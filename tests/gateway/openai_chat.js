// Asks the gateway through the official OpenAI SDK (npm `openai`), as any OpenAI client
// program would: one whole reply, one streamed with usage, one unknown model. Prints one JSON
// line with what it saw. Usage: node openai_chat.js BASE_URL MODEL QUESTION
const { OpenAI } = require('openai');

const [baseUrl, model, question] = process.argv.slice(2);

async function main() {
  const client = new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey: 'not-needed-for-a-free-gateway', maxRetries: 0 });
  const messages = [{ role: 'user', content: question }];
  const whole = await client.chat.completions.create({ model, messages, temperature: 0, max_tokens: 32 });
  const stream = await client.chat.completions.create({
    model, messages, temperature: 0, max_completion_tokens: 32, stream: true, stream_options: { include_usage: true },
  });
  let text = '';
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.choices.length > 0) {
      text += chunk.choices[0].delta.content || '';
      if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  let unknownModel = null;
  try {
    await client.chat.completions.create({ model: 'no-such-model', messages });
  } catch (e) {
    unknownModel = { status: e.status, type: e.type, code: e.code };
  }
  const models = await client.models.list();
  console.log(JSON.stringify({
    whole: whole.choices[0].message.content,
    whole_finish: whole.choices[0].finish_reason,
    whole_usage: whole.usage,
    stream_text: text,
    stream_finish: finish,
    stream_usage: usage,
    stream_chunks: chunks,
    unknown_model: unknownModel,
    models: models.data.map((m) => m.id),
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
