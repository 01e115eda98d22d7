// Drives the gateway's web chat page in Debian's headless Chromium with puppeteer-core (the
// system browser; nothing downloaded) as a person would: reads the swarm panel, asks questions
// with the keyboard, stops a reply, starts a new chat, on a desktop and a phone-sized screen.
// Collects every console error, page error, failed request and HTTP error the page causes.
// Prints one JSON line with what it saw; the Python test judges it.
// Usage: node webchat.js BASE_URL ARTIFACT_DIR REFERENCE_JSON
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [baseUrl, artifactDir, referencePath] = process.argv.slice(2);
const reference = JSON.parse(fs.readFileSync(referencePath, 'utf8'));
const STEP_TIMEOUT_MS = 30000;

async function main() {
  fs.mkdirSync(artifactDir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.PETALSLN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
  const out = { problems: [] };
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    await page.setViewport({ width: 1200, height: 860 });
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warn') out.problems.push(`console ${m.type()}: ${m.text()}`); });
    page.on('pageerror', (e) => out.problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => out.problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on('response', (r) => { if (r.status() >= 400) out.problems.push(`HTTP ${r.status()}: ${r.url()}`); });

    const home = await page.goto(baseUrl, { waitUntil: 'load' });
    out.headers = { contentType: home.headers()['content-type'], csp: home.headers()['content-security-policy'] };

    // The swarm panel: three servers and every block covered.
    await page.waitForFunction(() => document.querySelectorAll('#servers tbody tr').length === 3 &&
      document.querySelectorAll('#coverage .cell:not(.server-cell)').length > 0);
    out.swarm = await page.evaluate(() => ({
      rows: [...document.querySelectorAll('#servers tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
      blockCells: document.querySelectorAll('#coverage .cell:not(.server-cell)').length,
      missingCells: document.querySelectorAll('#coverage .cell.missing').length,
      summary: document.getElementById('swarm-summary').textContent,
      model: document.getElementById('model-name').textContent,
      about: document.getElementById('model-about').textContent,
    }));

    // Every control has a label or a text.
    out.unlabelled = await page.evaluate(() => [
      ...[...document.querySelectorAll('input, textarea, select')].filter((c) => !c.labels || c.labels.length === 0).map((c) => c.id),
      ...[...document.querySelectorAll('button')].filter((b) => !b.textContent.trim() && !b.getAttribute('aria-label')).map((b) => b.id),
    ]);

    // Counts how many different texts the reply being written shows (more than one: streamed).
    const watchStreaming = () => page.evaluate(() => {
      window.__streamSteps = 0;
      const conversation = document.getElementById('conversation');
      let last = '';
      const observer = new MutationObserver(() => {
        const body = conversation.querySelector('.message.assistant.streaming .text');
        if (body && body.textContent !== last) { last = body.textContent; window.__streamSteps += 1; }
      });
      observer.observe(conversation, { childList: true, subtree: true, characterData: true });
      window.__stopWatching = () => observer.disconnect();
    });

    // Types a question, sends it with Enter, waits for the reply to end; returns its text.
    const ask = async (question) => {
      const before = await page.$$eval('.message.assistant', (n) => n.length);
      await page.focus('#message');
      await page.keyboard.type(question);
      await page.keyboard.press('Enter');
      await page.waitForFunction((n) => document.querySelectorAll('.message.assistant').length === n + 1 &&
        !document.querySelector('.message.streaming') && !document.getElementById('send').disabled, {}, before);
      return page.evaluate(() => [...document.querySelectorAll('.message.assistant .text')].pop().textContent);
    };

    await watchStreaming();
    out.first = await ask('What is 17 + 25?');
    out.firstSteps = await page.evaluate(() => { window.__stopWatching(); return window.__streamSteps; });
    out.second = await ask('What is the capital of Japan?');
    await page.screenshot({ path: path.join(artifactDir, 'webchat-conversation.png') });

    // New chat, then one of the reference conversations, turn by turn.
    await page.click('#new-chat');
    out.afterNewChat = await page.$$eval('#conversation .message', (n) => n.length);
    const conversation = reference.conversations[0];
    out.reference = { asked: [], answers: [], expected: [] };
    const messages = conversation.messages;
    for (let i = 0; i < messages.length; i += 1) {
      if (messages[i].role !== 'user') continue;
      out.reference.asked.push(messages[i].content);
      out.reference.answers.push(await ask(messages[i].content));
      out.reference.expected.push(i + 1 < messages.length ? messages[i + 1].content : conversation.expected);
    }

    // Stop: clicked the moment the first piece of a long reply appears.
    await page.click('#new-chat');
    await page.evaluate(() => {
      const conversation = document.getElementById('conversation');
      const observer = new MutationObserver(() => {
        const body = conversation.querySelector('.message.assistant.streaming .text');
        if (body && body.textContent.length > 0) { observer.disconnect(); document.getElementById('stop').click(); }
      });
      observer.observe(conversation, { childList: true, subtree: true, characterData: true });
    });
    out.stopped = await ask('Who are you?');
    out.stoppedMeta = await page.evaluate(() => {
      const meta = [...document.querySelectorAll('.message.assistant')].pop().querySelector('.meta');
      return meta ? meta.textContent : '';
    });
    // The conversation goes on after a Stop (on a new session, with the transcript replayed).
    out.afterStop = await ask('What is 17 + 25?');

    // A phone-sized screen: nothing wider than the screen, the composer reachable.
    await page.setViewport({ width: 390, height: 844 });  // (isMobile would reload the page)
    out.phone = await page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      sendWidth: document.getElementById('send').getBoundingClientRect().width,
    }));
    await page.screenshot({ path: path.join(artifactDir, 'webchat-phone.png'), fullPage: true });
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

main().then(() => process.exit(0), (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
