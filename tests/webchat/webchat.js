// Drives the gateway's web chat page in Debian's headless Chromium with puppeteer-core (the
// system browser; nothing downloaded) as a person would: reads the swarm panel, asks questions
// with the keyboard, stops a reply, starts a new chat, on a desktop and a phone-sized screen.
// Collects every console error, page error, failed request and HTTP error the page causes.
// Prints one JSON line with what it saw; the Python test judges it.
// Usage: node webchat.js free BASE_URL ARTIFACT_DIR REFERENCE_JSON
//        node webchat.js paid BASE_URL ARTIFACT_DIR WALLET_PROGRAM PAYER_WALLET_URI
//        node webchat.js outage BASE_URL ARTIFACT_DIR   (a gateway whose swarm lacks blocks)
//        node webchat.js qr BASE_URL ARTIFACT_DIR WALLET_PROGRAM PAYER_WALLET_URI   (pays the QR's
//            invoice from outside the page, then uses the demo wallet's button)
//        node webchat.js expiry BASE_URL ARTIFACT_DIR WALLET_PROGRAM PAYER_WALLET_URI   (an invoice
//            that expires in the dialog, and a new one)
//        node webchat.js resilience BASE_URL ARTIFACT_DIR   (prints {"step": ...} lines and waits
//            for a line on stdin while the test changes the swarm)
// In paid mode the page gets an injected window.webln whose sendPayment pays from a devnet
// account with petalsln-wallet and returns the preimage.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const [mode, baseUrl, artifactDir, ...rest] = process.argv.slice(2);
const STEP_TIMEOUT_MS = 30000;

// Types a question, sends it with Enter, waits for the reply to end; returns its text.
async function ask(page, question) {
  const before = await page.$$eval('.message.assistant', (n) => n.length);
  await page.focus('#message');
  await page.keyboard.type(question);
  await page.keyboard.press('Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.message.assistant').length === n + 1 &&
    !document.querySelector('.message.streaming') && !document.getElementById('send').disabled, {}, before);
  return page.evaluate(() => [...document.querySelectorAll('.message.assistant .text')].pop().textContent);
}

// Opens a page that records every problem in out.problems.
async function openPage(browser, out) {
  const page = await browser.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  await page.setViewport({ width: 1200, height: 860 });
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warn') out.problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => out.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => out.problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) out.problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  return page;
}

// Paying in the page: the price before the first message, the payment dialog, WebLN, the
// credit after each message, the receipt, a second message from the credit, and a reload.
async function paid(browser, out) {
  const [walletProgram, payerUri] = rest;
  const page = await openPage(browser, out);
  out.payments = [];
  await page.exposeFunction('__petalslnPay', (invoice) => {
    const r = JSON.parse(execFileSync(walletProgram, ['--wallet', payerUri, 'pay', invoice], { timeout: 60000 }).toString());
    out.payments.push({ invoice, preimage: r.preimage });
    return r.preimage;
  });
  await page.evaluateOnNewDocument(() => {
    window.webln = {
      enable: async () => {},
      sendPayment: async (invoice) => ({ preimage: await window.__petalslnPay(invoice) }),
    };
  });
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => /per 1000 tokens/.test(document.getElementById('price').textContent));
  out.price = await page.$eval('#price', (n) => n.textContent);
  out.creditShownBefore = await page.$eval('#credit', (n) => !n.hidden);

  await page.focus('#message');
  await page.keyboard.type('What is 17 + 25?');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#pay-dialog[open]');
  await page.waitForFunction(() => !document.getElementById('pay-webln').hidden);
  out.dialog = await page.evaluate(() => ({
    amount: document.getElementById('pay-amount').textContent,
    devnet: document.getElementById('pay-devnet').hidden ? '' : document.getElementById('pay-devnet').textContent,
    invoice: document.getElementById('pay-invoice').value,
    link: document.getElementById('pay-link').getAttribute('href'),
    qr: document.getElementById('pay-qr').hidden ? 0 : document.getElementById('pay-qr').width,
    focused: document.activeElement.id,
  }));
  await page.screenshot({ path: path.join(artifactDir, 'webchat-payment.png') });
  await page.click('#pay-webln');
  await page.waitForFunction(() => document.querySelectorAll('.message.assistant').length === 1 &&
    !document.querySelector('.message.streaming') && !document.getElementById('send').disabled);
  out.first = await page.evaluate(() => [...document.querySelectorAll('.message.assistant .text')].pop().textContent);
  out.dialogClosed = await page.$eval('#pay-dialog', (n) => !n.open);
  out.credit1 = await page.$eval('#credit', (n) => (n.hidden ? '' : n.textContent));
  await page.click('.message.assistant:last-child .receipt summary');
  out.receipt1 = await page.evaluate(() => [...document.querySelectorAll('.receipt')].pop().innerText);

  out.second = await ask(page, 'What is the capital of Japan?');
  out.credit2 = await page.$eval('#credit', (n) => (n.hidden ? '' : n.textContent));
  out.paymentsAfterSecond = out.payments.length;

  // Reload: the token, and so the credit, is still there; the next message needs no payment.
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => !document.getElementById('credit').hidden);
  out.creditAfterReload = await page.$eval('#credit', (n) => n.textContent);
  out.third = await ask(page, 'What is 17 + 25?');
  out.paymentsAfterReload = out.payments.length;
  out.token = await page.evaluate(() => localStorage.getItem('petalsln-chat-l402'));
}

// A swarm with blocks missing: the panel marks them, a message gets an error in words, and the
// page stays usable (the message is given back to send again).
async function outage(browser, out) {
  const page = await openPage(browser, out);
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelectorAll('#servers tbody tr').length > 0 &&
    document.querySelectorAll('#coverage .cell.missing').length > 0);
  out.missingCells = await page.$$eval('#coverage .cell.missing', (n) => n.map((c) => c.textContent));
  out.summary = await page.$eval('#swarm-summary', (n) => n.textContent);
  out.error = await ask(page, 'What is 17 + 25?');
  out.errorShown = await page.evaluate(() => [...document.querySelectorAll('.message.assistant')].pop().classList.contains('error'));
  out.composer = await page.$eval('#message', (n) => n.value);
  out.sendEnabled = await page.$eval('#send', (n) => !n.disabled);
  await page.screenshot({ path: path.join(artifactDir, 'webchat-missing-blocks.png') });
}

// The receipt under the last reply: its rows, and the route's rows (server, blocks,
// block-tokens, earned).
async function lastReceipt(page) {
  await page.evaluate(() => { const d = [...document.querySelectorAll('.receipt')].pop(); if (d) d.open = true; });
  return page.evaluate(() => {
    const d = [...document.querySelectorAll('.receipt')].pop();
    return {
      text: d.innerText,
      route: [...d.querySelectorAll('table.route tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)),
    };
  });
}

// Waits for the payment dialog and returns what it shows.
async function dialogShown(page, notInvoice) {
  await page.waitForFunction((old) => document.getElementById('pay-dialog').open &&
    document.getElementById('pay-invoice').value && document.getElementById('pay-invoice').value !== old, {}, notInvoice || '');
  return page.evaluate(() => ({
    invoice: document.getElementById('pay-invoice').value,
    devnet: document.getElementById('pay-devnet').hidden ? '' : document.getElementById('pay-devnet').textContent,
    demo: document.getElementById('pay-demo').hidden ? '' : document.getElementById('pay-demo').textContent,
    watch: document.getElementById('pay-watch').hidden ? '' : document.getElementById('pay-watch').textContent,
  }));
}

// Waits for the reply being written to end; returns its text.
async function replyDone(page, count) {
  await page.waitForFunction((n) => document.querySelectorAll('.message.assistant').length === n &&
    !document.querySelector('.message.streaming') && !document.getElementById('send').disabled, { timeout: 60000 }, count);
  return page.evaluate(() => [...document.querySelectorAll('.message.assistant .text')].pop().textContent);
}

async function typeAndSend(page, question) {
  await page.focus('#message');
  await page.keyboard.type(question);
  await page.keyboard.press('Enter');
}

// Paying without the page's help: the QR code's invoice paid by petalsln-wallet from outside
// (the page notices by asking the gateway), then, with the token forgotten, the demo wallet's
// button. Receipts with their routes after each.
async function qr(browser, out) {
  const [walletProgram, payerUri] = rest;
  const page = await openPage(browser, out);
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => /per 1000 tokens/.test(document.getElementById('price').textContent));
  out.price = await page.$eval('#price', (n) => n.textContent);
  await typeAndSend(page, 'What is 17 + 25?');
  out.dialog = await dialogShown(page);
  await page.screenshot({ path: path.join(artifactDir, 'webchat-payment-dialog.png') });
  // The dialog on a phone-sized screen: nothing wider than the screen.
  await page.setViewport({ width: 390, height: 844 });
  out.phoneDialog = await page.evaluate(() => {
    const d = document.getElementById('pay-dialog');
    return { overflow: d.scrollWidth - d.clientWidth, right: d.getBoundingClientRect().right - window.innerWidth };
  });
  await page.screenshot({ path: path.join(artifactDir, 'webchat-payment-phone.png') });
  await page.setViewport({ width: 1200, height: 860 });
  // Paid from "a phone": nothing in the page is touched.
  const started = Date.now();
  const paid = JSON.parse(execFileSync(walletProgram, ['--wallet', payerUri, 'pay', out.dialog.invoice], { timeout: 60000 }).toString());
  out.outsidePreimage = paid.preimage;
  out.first = await replyDone(page, 1);
  out.noticedMs = Date.now() - started;
  out.dialogClosed = await page.$eval('#pay-dialog', (n) => !n.open);
  out.token1 = await page.evaluate(() => localStorage.getItem('petalsln-chat-l402'));
  out.receipt1 = await lastReceipt(page);
  await page.screenshot({ path: path.join(artifactDir, 'webchat-receipt.png') });

  // The demo wallet: the token forgotten, the next message asks again; one click pays.
  await page.evaluate(() => localStorage.removeItem('petalsln-chat-l402'));
  await page.reload({ waitUntil: 'load' });
  await page.waitForFunction(() => /per 1000 tokens/.test(document.getElementById('price').textContent));
  await typeAndSend(page, 'What is the capital of Japan?');
  out.demoDialog = await dialogShown(page);
  await page.click('#pay-demo');
  out.demoAnswer = await replyDone(page, 1);
  out.token2 = await page.evaluate(() => localStorage.getItem('petalsln-chat-l402'));
  out.receipt2 = await lastReceipt(page);
  out.credit2 = await page.$eval('#credit', (n) => (n.hidden ? '' : n.textContent));
}

// An invoice left unpaid past its expiry: the dialog says so and offers a new one, which pays.
async function expiry(browser, out) {
  const [walletProgram, payerUri] = rest;
  const page = await openPage(browser, out);
  out.payments = [];
  await page.exposeFunction('__petalslnPay', (invoice) => {
    const r = JSON.parse(execFileSync(walletProgram, ['--wallet', payerUri, 'pay', invoice], { timeout: 60000 }).toString());
    out.payments.push({ invoice, preimage: r.preimage });
    return r.preimage;
  });
  await page.evaluateOnNewDocument(() => {
    window.webln = { enable: async () => {}, sendPayment: async (invoice) => ({ preimage: await window.__petalslnPay(invoice) }) };
  });
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => /per 1000 tokens/.test(document.getElementById('price').textContent));
  await typeAndSend(page, 'What is 17 + 25?');
  out.first = await dialogShown(page);
  await page.waitForSelector('#pay-expired:not([hidden])', { timeout: 60000 });
  out.expired = await page.evaluate(() => ({
    text: document.getElementById('pay-expired').innerText,
    focused: document.activeElement.id,
    weblnDisabled: document.getElementById('pay-webln').disabled,
  }));
  await page.screenshot({ path: path.join(artifactDir, 'webchat-invoice-expired.png') });
  await page.click('#pay-renew');
  out.second = await dialogShown(page, out.first.invoice);
  out.expiredHiddenAgain = await page.$eval('#pay-expired', (n) => n.hidden);
  await page.click('#pay-webln');
  out.answer = await replyDone(page, 1);
}

// Reads one line from the test on stdin (it acts on the swarm between two steps).
const stdinLines = [];
let stdinWaiter = null;
function nextLine() {
  if (stdinLines.length) return Promise.resolve(stdinLines.shift());
  return new Promise((resolve) => { stdinWaiter = resolve; });
}
function listenStdin() {
  require('readline').createInterface({ input: process.stdin }).on('line', (line) => {
    if (stdinWaiter) { const w = stdinWaiter; stdinWaiter = null; w(line); } else stdinLines.push(line);
  });
}
async function step(name) {
  console.log(JSON.stringify({ step: name }));
  await nextLine();
}

// The swarm changing under a conversation: the server on the route killed between two turns
// (the test has started a second one for its blocks), then every server stopped (the page says
// which blocks are missing), then all back (the same message goes through).
async function resilience(browser, out) {
  listenStdin();
  const page = await openPage(browser, out);
  await page.goto(baseUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelectorAll('#servers tbody tr').length === 3);
  out.first = await ask(page, 'What is 17 + 25?');
  await step('kill-route');
  out.second = await ask(page, 'What is the capital of Japan?');
  await step('stop-all');
  out.outage = await ask(page, 'What is the capital of Kenya?');
  out.outageIsError = await page.evaluate(() => [...document.querySelectorAll('.message.assistant')].pop().classList.contains('error'));
  await page.waitForFunction(() => document.querySelectorAll('#coverage .cell.missing').length > 0);
  out.outageMissing = await page.$$eval('#coverage .cell.missing', (n) => n.map((c) => c.textContent));
  out.outageSummary = await page.$eval('#swarm-summary', (n) => n.textContent);
  out.composer = await page.$eval('#message', (n) => n.value);
  await page.screenshot({ path: path.join(artifactDir, 'webchat-outage.png') });
  await step('restart-all');
  // The message was given back: Send it again.
  await page.click('#send');
  out.recovered = await replyDone(page, 4);
  await page.waitForFunction(() => document.querySelectorAll('#coverage .cell.missing').length === 0 &&
    document.querySelectorAll('#servers tbody tr').length === 3).catch(() => {});
  out.recoveredSummary = await page.$eval('#swarm-summary', (n) => n.textContent);
  out.recoveredRows = await page.$$eval('#servers tbody tr', (n) => n.map((tr) => tr.textContent));
}

async function main() {
  fs.mkdirSync(artifactDir, { recursive: true });
  const browser = await puppeteer.launch({
    executablePath: process.env.PETALSLN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-extensions'],
  });
  const out = { problems: [] };
  try {
    const modes = { paid, outage, qr, expiry, resilience, free };
    if (!modes[mode]) throw new Error(`unknown mode ${mode}`);
    await modes[mode](browser, out);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
}

async function free(browser, out) {
  const reference = JSON.parse(fs.readFileSync(rest[0], 'utf8'));
  {
    const page = await openPage(browser, out);

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

    const ask1 = (question) => ask(page, question);

    await watchStreaming();
    out.first = await ask1('What is 17 + 25?');
    out.firstSteps = await page.evaluate(() => { window.__stopWatching(); return window.__streamSteps; });
    out.second = await ask1('What is the capital of Japan?');
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
      out.reference.answers.push(await ask1(messages[i].content));
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
    out.stopped = await ask1('Who are you?');
    out.stoppedMeta = await page.evaluate(() => {
      const meta = [...document.querySelectorAll('.message.assistant')].pop().querySelector('.meta');
      return meta ? meta.textContent : '';
    });
    // The conversation goes on after a Stop (on a new session, with the transcript replayed).
    out.afterStop = await ask1('What is 17 + 25?');

    // A phone-sized screen: nothing wider than the screen, the composer reachable.
    await page.setViewport({ width: 390, height: 844 });  // (isMobile would reload the page)
    out.phone = await page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - window.innerWidth,
      sendWidth: document.getElementById('send').getBoundingClientRect().width,
    }));
    await page.screenshot({ path: path.join(artifactDir, 'webchat-phone.png'), fullPage: true });
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
