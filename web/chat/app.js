// petalsln web chat: a conversation with the swarm through this gateway's chat.petals.dev
// WebSocket API (/api/v2/generate), and the swarm seen by the gateway (/api/v1/swarm).
//
// The page keeps the conversation's transcript. While its WebSocket session is open the gateway
// keeps the conversation's history, so a turn sends only its new message; after Stop, an error
// that closed the socket, or the gateway closing an idle session, the next turn opens a new
// session and sends the whole transcript. Every text from the gateway or the user is shown with
// textContent, never parsed as HTML.
//
// A priced gateway answers an unpaid message with {"ok": false, "status_code": 402, "invoice",
// "macaroon", ...}: the page shows the invoice (QR code, text, lightning: link, WebLN), and once
// paid resends the message with "authorization": "L402 <macaroon>:<preimage>". That token is
// kept in this browser's localStorage and sent to nowhere but this gateway, so unspent credit
// survives a reload. While the dialog is open the page asks the gateway every few seconds whether
// the invoice has settled (POST /api/v1/invoice-status with the 402's macaroon, which proves it is
// the requester): a payment made from a phone that scanned the QR code hands the page its
// preimage. A gateway on the devnet started with --demo-wallet also offers to pay from that
// devnet account (POST /api/v1/demo-pay): play money, and labelled so.
'use strict';

(() => {
  const IM_START = '<|im_start|>';
  const IM_END = '<|im_end|>';
  const DEFAULT_SYSTEM = 'You are a helpful AI assistant.';
  const SWARM_REFRESH_MS = 15000;
  const TOKEN_KEY = 'petalsln-chat-l402';
  const INVOICE_POLL_MS = 3000;  // within the gateway's 30 lookups a minute per requester
  const RENEW = 'renew';         // what pay() resolves with when the person asks for a new invoice

  const $ = (id) => document.getElementById(id);
  const el = {
    newChat: $('new-chat'),
    swarmToggle: $('swarm-toggle'),
    modelName: $('model-name'),
    modelAbout: $('model-about'),
    conversation: $('conversation'),
    notice: $('notice'),
    composer: $('composer'),
    message: $('message'),
    send: $('send'),
    stop: $('stop'),
    systemPrompt: $('system-prompt'),
    temperature: $('temperature'),
    temperatureValue: $('temperature-value'),
    topP: $('top-p'),
    topPValue: $('top-p-value'),
    swarm: $('swarm'),
    swarmSummary: $('swarm-summary'),
    coverage: $('coverage'),
    servers: document.querySelector('#servers tbody'),
    price: $('price'),
    credit: $('credit'),
    payDialog: $('pay-dialog'),
    payAmount: $('pay-amount'),
    payQr: $('pay-qr'),
    payInvoice: $('pay-invoice'),
    payCopy: $('pay-copy'),
    payLink: $('pay-link'),
    payWebln: $('pay-webln'),
    payPreimage: $('pay-preimage'),
    payPreimageUse: $('pay-preimage-use'),
    payStatus: $('pay-status'),
    payDevnet: $('pay-devnet'),
    payCancel: $('pay-cancel'),
    payDemo: $('pay-demo'),
    payWatch: $('pay-watch'),
    payExpired: $('pay-expired'),
    payRenew: $('pay-renew'),
  };

  const state = {
    model: null,        // the model's name, from /api/v1/swarm
    maxLength: 4096,    // tokens a session may hold; lowered to the model's context when the gateway says so
    transcript: [],     // {role, content} of the finished turns
    system: '',         // the system prompt of this conversation (fixed when it starts)
    session: null,      // the open Session, or null
    turn: null,         // the running turn: {stopped, bubble}
    config: null,       // /api/v1/webchat: price, credit size, context length
    token: readToken(), // "L402 <macaroon>:<preimage>" bought here, or ''
    credit: null,       // tokens left on the token, when known
    payment: null,      // the open payment dialog: {resolve, reject}
  };

  function readToken() {
    try {
      return localStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function saveToken(token) {
    state.token = token;
    try {
      if (token) localStorage.setItem(TOKEN_KEY, token); else localStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // private browsing: the credit lasts as long as the page
    }
  }

  // ---------------------------------------------------------------------------------------
  // Small helpers

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/api/v2/generate`;
  }

  // A user's text may not contain ChatML markers: they would end the user's turn.
  function plain(text) {
    return text.split('<|').join('<\u200b|');
  }

  function formatMsat(msat) {
    if (msat >= 1000) return `${(msat / 1000).toLocaleString('en-US', { maximumFractionDigits: 3 })} sat`;
    return `${msat} msat`;
  }

  // What a gateway's error means for the person using the page.
  function humanError(message) {
    const text = String(message || '');
    let m = text.match(/no server covers (blocks?) ([0-9, -]+)/);
    if (m) {
      return `No server in the swarm is serving ${m[1]} ${m[2].trim()} of the model right now, so nobody can compute the answer. ` +
        'The swarm panel shows what is missing; send again once servers are back.';
    }
    m = text.match(/no server seen now charges at most/);
    if (m) return 'Every server that could answer charges more than this gateway\'s price, so the gateway will not sell the message at a loss. Try again later.';
    if (/Maximum length exceeded/.test(text)) return 'This conversation is now longer than the model can read. Start a new chat.';
    if (/most messages at once|retry shortly/.test(text)) return 'The gateway is busy with other people\'s messages. Send again in a moment.';
    if (/timed? ?out|deadline/i.test(text)) return `A server in the swarm took too long to answer (${text}). Send again.`;
    return `The gateway could not answer: ${text}`;
  }

  // ---------------------------------------------------------------------------------------
  // The WebSocket session

  class SessionClosed extends Error {}

  // One WebSocket to /api/v2/generate; messages are read one at a time with next().
  class Session {
    constructor() {
      this.queue = [];
      this.waiters = [];
      this.closed = false;
      this.synced = false;  // the gateway holds this conversation's transcript
    }

    connect() {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl());
        this.ws = ws;
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new SessionClosed('The page could not reach the gateway. Is it still running? Send again to retry.'));
        ws.onmessage = (event) => {
          let message;
          try {
            message = JSON.parse(event.data);
          } catch (e) {
            message = { ok: false, traceback: 'the gateway sent something that is not JSON' };
          }
          if (this.waiters.length) this.waiters.shift().resolve(message); else this.queue.push(message);
        };
        ws.onclose = () => {
          this.closed = true;
          if (state.session === this) state.session = null;
          const lost = new SessionClosed('The connection to the gateway was lost. Send again to continue the conversation.');
          for (const w of this.waiters.splice(0)) w.reject(lost);
          reject(lost);
        };
      });
    }

    send(object) {
      if (this.closed) throw new SessionClosed('The connection to the gateway was lost. Send again to continue the conversation.');
      this.ws.send(JSON.stringify(object));
    }

    next() {
      if (this.queue.length) return Promise.resolve(this.queue.shift());
      if (this.closed) return Promise.reject(new SessionClosed('The connection to the gateway was lost. Send again to continue the conversation.'));
      return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
    }

    close() {
      this.closed = true;
      if (state.session === this) state.session = null;
      const stopped = new SessionClosed('stopped');
      for (const w of this.waiters.splice(0)) w.reject(stopped);
      if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, 'bye');
    }
  }

  // Opens a session, lowering max_length to the model's context when the gateway says so.
  async function openSession() {
    const session = new Session();
    await session.connect();
    for (let attempt = 0; attempt < 2; attempt += 1) {
      session.send({ type: 'open_inference_session', model: state.model || undefined, max_length: state.maxLength });
      const reply = await session.next();
      if (reply.ok) {
        state.session = session;
        return session;
      }
      const m = String(reply.traceback || '').match(/max_length'? must be in \[1, (\d+)\]/);
      if (!m) {
        session.close();
        throw new Error(humanError(reply.traceback));
      }
      state.maxLength = Number(m[1]);
    }
    session.close();
    throw new Error('The gateway refused to open a conversation.');
  }

  // ---------------------------------------------------------------------------------------
  // The conversation

  function render(messages) {
    const system = state.system.trim() || DEFAULT_SYSTEM;
    let out = `${IM_START}system\n${plain(system)}${IM_END}\n`;
    for (const m of messages) out += `${IM_START}${m.role}\n${plain(m.content)}${IM_END}\n`;
    return `${out}${IM_START}assistant\n`;
  }

  function addBubble(role, text) {
    const bubble = make('article', `message ${role}`);
    bubble.append(make('span', 'role', role === 'user' ? 'You' : (state.model || 'Model')));
    const body = make('div', 'text', text);
    bubble.append(body);
    el.conversation.append(bubble);
    bubble.scrollIntoView({ block: 'end' });
    return { bubble, body };
  }

  function setBusy(busy) {
    el.send.disabled = busy;
    el.stop.hidden = !busy;
    el.newChat.disabled = false;
    if (!busy && document.activeElement === el.stop) el.message.focus();
  }

  async function sendMessage(text) {
    showNotice('');
    if (!state.transcript.length && !state.session) state.system = el.systemPrompt.value;
    const user = { role: 'user', content: text };
    addBubble('user', text);
    const reply = addBubble('assistant', '');
    reply.bubble.classList.add('streaming');
    reply.bubble.setAttribute('aria-busy', 'true');
    const turn = { stopped: false, reply, text: '' };
    state.turn = turn;
    setBusy(true);
    try {
      let session = state.session;
      if (!session || session.closed) session = await openSession();
      if (turn.stopped) throw new SessionClosed('stopped');
      const inputs = session.synced ? `\n${IM_START}user\n${plain(text)}${IM_END}\n${IM_START}assistant\n` : render([...state.transcript, user]);
      const temperature = Number(el.temperature.value);
      const priced = state.config && !state.config.free;
      let creditBefore = priced ? await refreshCredit() : null;
      let paidOnce = false;
      let refusedOnce = false;
      const message = {
        type: 'generate',
        inputs,
        max_new_tokens: 1,
        stop_sequence: IM_END,
        do_sample: temperature > 0 ? 1 : 0,
        temperature: temperature > 0 ? temperature : 1,
        top_p: Number(el.topP.value),
      };
      // Only this gateway ever sees the token ('' forgets one the session holds).
      const withToken = () => (priced ? { ...message, authorization: state.token } : message);
      session.send(withToken());
      let last = null;
      let generated = 0;
      for (;;) {
        const m = await session.next();
        if (!m.ok && m.status_code === 402 && !turn.stopped && !paidOnce) {
          // Asked to pay before anything ran: pay, then send the same message with the token.
          paidOnce = true;
          reply.body.textContent = 'Waiting for your payment…';
          const paid = await pay(m);
          if (paid === RENEW) {
            // The invoice expired: the same message again gets a fresh one.
            paidOnce = false;
            session.send(withToken());
            continue;
          }
          saveToken(paid);
          reply.body.textContent = '';
          creditBefore = await refreshCredit();
          session.send(withToken());
          continue;
        }
        if (!m.ok && m.status_code === 401 && !refusedOnce) {
          // The kept token is no good here any more (expired, another gateway): buy anew.
          refusedOnce = true;
          saveToken('');
          showCredit(null);
          session.send(withToken());
          continue;
        }
        if (!m.ok) throw new Error(humanError(m.traceback));
        turn.text += m.outputs || '';
        generated += Number(m.token_count) || 0;
        reply.body.textContent = turn.text.split(IM_END).join('');
        if (m.stop) {
          last = m;
          break;
        }
      }
      state.transcript.push(user, { role: 'assistant', content: turn.text.split(IM_END).join('').trim() });
      session.synced = true;
      const creditAfter = priced ? await refreshCredit() : null;
      addReceipt(reply.bubble, { generated, last, creditBefore, creditAfter });
    } catch (e) {
      if (turn.stopped) {
        // Stop: the reply so far stays in the conversation; the next turn reopens a session.
        const partial = turn.text.split(IM_END).join('');
        state.transcript.push(user, { role: 'assistant', content: partial });
        reply.bubble.append(make('span', 'meta', 'Stopped.'));
      } else {
        // The turn did not happen: show why, give the message back to send again.
        reply.bubble.classList.add('error');
        reply.body.textContent = e.message;
        if (!el.message.value) el.message.value = text;
        if (e instanceof SessionClosed && state.session) state.session.close();
      }
    } finally {
      reply.bubble.classList.remove('streaming');
      reply.bubble.removeAttribute('aria-busy');
      if (state.turn === turn) state.turn = null;
      setBusy(false);
      refreshSwarm();
    }
  }

  // A receipt one click away under the reply: what it used and cost, and, when the gateway
  // says (its last message's "receipt"), the route: which servers computed which blocks and
  // what each earned from this message.
  function addReceipt(bubble, r) {
    const details = make('details', 'receipt');
    details.append(make('summary', '', 'Receipt'));
    const dl = make('dl');
    const row = (term, value) => {
      dl.append(make('dt', '', term), make('dd', '', value));
    };
    const receipt = r.last && r.last.receipt && typeof r.last.receipt === 'object' ? r.last.receipt : null;
    const number = (value, fallback) => (Number.isFinite(value) ? value : fallback);
    row('Tokens written', String(number(receipt && receipt.generated_tokens, r.generated)));
    const read = number(receipt && receipt.prompt_tokens, r.last && r.last.prompt_tokens);
    if (Number.isFinite(read)) row('Tokens read', String(read));
    const blockTokens = number(receipt && receipt.block_tokens, r.last && r.last.block_tokens);
    if (Number.isFinite(blockTokens)) row('Block-tokens computed by the swarm', String(blockTokens));
    const price = receipt && Number.isFinite(receipt.price_msat_per_1k_tokens) ? receipt.price_msat_per_1k_tokens
      : (state.config ? state.config.price_msat_per_1k_tokens : 0);
    if (!state.config || state.config.free) {
      row('Cost', 'free');
    } else {
      row('Price', `${formatMsat(price)} per 1000 tokens`);
      if (receipt && Number.isFinite(receipt.charged_tokens) && Number.isFinite(receipt.charged_msat)) {
        row('Charged', `${receipt.charged_tokens} tokens = ${formatMsat(receipt.charged_msat)}`);
        if (Number.isFinite(receipt.fee_msat)) row('Kept by the gateway', formatMsat(receipt.fee_msat));
      } else if (r.creditBefore !== null && r.creditAfter !== null) {
        const charged = r.creditBefore - r.creditAfter;
        row('Charged', `${charged} tokens = ${formatMsat(Math.round((charged * price) / 1000))}`);
      }
      if (r.creditAfter !== null) row('Credit left', `${r.creditAfter} tokens`);
    }
    details.append(dl);
    if (receipt && Array.isArray(receipt.route) && receipt.route.length) details.append(routeTable(receipt.route));
    bubble.append(details);
  }

  // The route of one message: each server's public name, its blocks, its work and its earnings.
  function routeTable(route) {
    const table = make('table', 'route');
    table.append(make('caption', 'visually-hidden', 'The servers that computed this reply'));
    const head = make('tr');
    for (const h of ['Server', 'Blocks', 'Block-tokens', 'Earned']) {
      const th = make('th', '', h);
      th.scope = 'col';
      head.append(th);
    }
    table.append(make('thead'));
    table.tHead.append(head);
    const body = make('tbody');
    for (const hop of route) {
      const tr = make('tr');
      const blocks = Array.isArray(hop.blocks) && hop.blocks.length === 2 ? `${hop.blocks[0]}–${hop.blocks[1] - 1}` : '?';
      const name = hop.name || (typeof hop.peer === 'string' ? `${hop.peer.slice(0, 12)}…` : 'a server');
      tr.append(make('td', '', String(name)), make('td', '', blocks), make('td', 'num', String(number0(hop.block_tokens))),
        make('td', 'num', formatMsat(number0(hop.earned_msat))));
      body.append(tr);
    }
    table.append(body);
    return table;
  }

  function number0(value) {
    return Number.isFinite(value) ? value : 0;
  }

  // ---------------------------------------------------------------------------------------
  // Paying

  function showPrice() {
    const c = state.config;
    if (!c) return;
    el.price.textContent = c.free
      ? 'Free: this gateway asks for no payment.'
      : `Price: ${formatMsat(c.price_msat_per_1k_tokens)} per 1000 tokens (what you send and what the model writes), ` +
        `paid over Lightning; one payment buys ${c.credit_tokens} tokens of credit.` +
        (c.demo_wallet ? ' This gateway runs on the devnet, petalsln\'s test network: its demo wallet can pay for you with test money, not real bitcoin.' : '');
  }

  function showCredit(left) {
    state.credit = left;
    el.credit.hidden = left === null;
    if (left !== null) {
      const price = state.config ? state.config.price_msat_per_1k_tokens : 0;
      el.credit.textContent = `Credit left: ${left} tokens (worth ${formatMsat(Math.floor((left * price) / 1000))}).`;
    }
  }

  // Asks the gateway how much credit the kept token has left; null when none or unknown.
  async function refreshCredit() {
    if (!state.token || !state.config || state.config.free) {
      showCredit(null);
      return null;
    }
    try {
      const response = await fetch('/api/v1/credit', { headers: { Authorization: state.token }, cache: 'no-store' });
      const body = await response.json();
      if (response.status === 401) {
        saveToken('');
        showCredit(null);
        return null;
      }
      if (!response.ok || typeof body.left_tokens !== 'number') return state.credit;
      showCredit(body.left_tokens);
      return body.left_tokens;
    } catch (e) {
      return state.credit;
    }
  }

  function drawQr(text) {
    const canvas = el.payQr;
    if (typeof window.qrcode !== 'function') {
      canvas.hidden = true;  // the encoder is not installed: the text and the link remain
      return;
    }
    const qr = window.qrcode(0, 'L');
    qr.addData(text.toUpperCase(), 'Alphanumeric');  // BOLT11 in capitals: the compact QR mode
    qr.make();
    const n = qr.getModuleCount();
    const quiet = 4;
    const scale = Math.max(2, Math.floor(480 / (n + 2 * quiet)));
    canvas.width = (n + 2 * quiet) * scale;
    canvas.height = canvas.width;
    const g = canvas.getContext('2d');
    g.fillStyle = '#fff';
    g.fillRect(0, 0, canvas.width, canvas.height);
    g.fillStyle = '#000';
    for (let r = 0; r < n; r += 1) {
      for (let c = 0; c < n; c += 1) if (qr.isDark(r, c)) g.fillRect((c + quiet) * scale, (r + quiet) * scale, scale, scale);
    }
    canvas.hidden = false;
  }

  // POSTs @p body as JSON to one of the gateway's invoice endpoints; returns {status, body}
  // (body null when the answer is not JSON), or null when the gateway cannot be reached.
  async function postJson(path, body) {
    try {
      const response = await fetch(path, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store',
      });
      let parsed = null;
      try {
        parsed = await response.json();
      } catch (e) {
        parsed = null;
      }
      return { status: response.status, body: parsed };
    } catch (e) {
      return null;
    }
  }

  // Fills the payment dialog for a 402's invoice.
  function showInvoice(challenge, invoice) {
    const amount = Number(challenge.amount_msat) || 0;
    let text = `${formatMsat(amount)} buys ${challenge.credit_tokens} tokens of credit on this gateway.`;
    if (typeof challenge.left_tokens === 'number') {
      text += ` Your credit has ${challenge.left_tokens} tokens left; this message may need up to ${challenge.needed_tokens}.`;
    }
    el.payAmount.textContent = text;
    el.payInvoice.value = invoice;
    el.payLink.href = `lightning:${invoice}`;
    el.payPreimage.value = '';
    el.payStatus.textContent = '';
    el.payExpired.hidden = true;
    el.payWatch.hidden = false;
    el.payWebln.hidden = !window.webln;
    el.payWebln.disabled = false;
    el.payDemo.hidden = !(state.config && state.config.demo_wallet);
    el.payDemo.disabled = false;
    // Regtest and testnet invoices (the devnet's are lnbcrt) carry no real bitcoin: say so.
    el.payDevnet.hidden = !/^ln(bcrt|tbs|tb)/i.test(invoice);
    el.payDevnet.textContent = 'Test money: this invoice is on a test network (such as petalsln\'s devnet), not real bitcoin.';
    drawQr(`lightning:${invoice}`);
  }

  // The invoice can no longer be paid: say so, and offer a new one.
  function showExpired() {
    el.payExpired.hidden = false;
    el.payWatch.hidden = true;
    el.payWebln.disabled = true;
    el.payDemo.disabled = true;
    el.payStatus.textContent = '';
    el.payRenew.focus();
  }

  // Shows the payment dialog for a 402; resolves with the L402 authorization once paid, or with
  // RENEW when the invoice expired and the person asks for a new one.
  function pay(challenge) {
    return new Promise((resolve, reject) => {
      const invoice = String(challenge.invoice || '');
      const macaroon = String(challenge.macaroon || '');
      showInvoice(challenge, invoice);
      let timer = null;
      const payment = {};
      const close = () => {
        clearTimeout(timer);
        if (state.payment === payment) state.payment = null;
        if (el.payDialog.open) el.payDialog.close();
      };
      const finish = (preimage) => {
        const hex = String(preimage || '').trim().toLowerCase();
        if (!/^[0-9a-f]{64}$/.test(hex)) {
          el.payStatus.textContent = 'That is not a preimage: it has 64 hexadecimal digits (0-9, a-f).';
          return;
        }
        close();
        resolve(`L402 ${macaroon}:${hex}`);
      };
      // Acts on what the gateway says about the invoice; true when the dialog is done with it.
      const settle = (answer) => {
        const body = answer && answer.body;
        if (!body || !body.ok) return false;
        if (body.status === 'settled' && body.preimage) {
          el.payStatus.textContent = 'Payment received.';
          finish(body.preimage);
          return true;
        }
        if (body.status === 'settled') {
          el.payStatus.textContent = 'The invoice is paid. Paste the preimage your wallet shows below.';
          return true;
        }
        if (body.status === 'expired') {
          showExpired();
          return true;
        }
        return false;
      };
      // Asks the gateway every few seconds while this dialog is open (a phone may pay the QR code).
      const watch = async () => {
        const answer = await postJson('/api/v1/invoice-status', { macaroon });
        if (state.payment !== payment || settle(answer)) return;
        timer = setTimeout(watch, answer && answer.status === 429 ? INVOICE_POLL_MS * 4 : INVOICE_POLL_MS);
      };
      Object.assign(payment, {
        webln: async () => {
          el.payStatus.textContent = 'Waiting for your wallet…';
          try {
            if (typeof window.webln.enable === 'function') await window.webln.enable();
            const paid = await window.webln.sendPayment(invoice);
            finish(paid && paid.preimage);
          } catch (e) {
            el.payStatus.textContent = `Your wallet did not pay: ${e && e.message ? e.message : e}.`;
          }
        },
        demo: async () => {
          el.payDemo.disabled = true;
          el.payStatus.textContent = 'Paying from the demo wallet (devnet test money, not real bitcoin)…';
          const answer = await postJson('/api/v1/demo-pay', { macaroon, invoice });
          if (state.payment !== payment || settle(answer)) return;
          const why = answer && answer.body && answer.body.traceback ? answer.body.traceback : 'the gateway did not answer';
          el.payStatus.textContent = `The demo wallet did not pay: ${why}.`;
          el.payDemo.disabled = false;
        },
        preimage: () => finish(el.payPreimage.value),
        renew: () => {
          close();
          resolve(RENEW);
        },
        cancel: () => {
          close();
          reject(new Error('Payment cancelled: your message was not sent. Send it again when you want to pay.'));
        },
      });
      state.payment = payment;
      el.payDialog.showModal();
      (window.webln ? el.payWebln : el.payCopy).focus();
      timer = setTimeout(watch, INVOICE_POLL_MS);
    });
  }

  function stop() {
    const turn = state.turn;
    if (!turn) return;
    if (state.payment) state.payment.cancel();
    turn.stopped = true;
    if (state.session) state.session.close();  // the gateway stops and charges only what it produced
  }

  function newChat() {
    stop();
    state.transcript = [];
    state.system = el.systemPrompt.value;
    el.conversation.replaceChildren();
    showNotice('');
    if (state.session) state.session.close();
    el.message.focus();
  }

  // ---------------------------------------------------------------------------------------
  // The swarm panel

  function describeModel(name, numBlocks) {
    el.modelName.textContent = `Model: ${name}`;
    const blocks = `${numBlocks} transformer blocks, computed by the servers in the swarm`;
    if (name === 'demo-model') {
      el.modelAbout.textContent = `A tiny demo model (${blocks}). It only answers arithmetic (like "What is 17 + 25?"), ` +
        'capitals ("Capital of Kenya?") and a few questions about Lightning and petalsln. Anything else gets a wrong answer.';
    } else {
      el.modelAbout.textContent = `A language model with ${blocks}.`;
    }
  }

  function drawCoverage(numBlocks, servers) {
    el.coverage.replaceChildren();
    el.coverage.style.gridTemplateColumns = `minmax(4em, 8em) repeat(${Math.max(numBlocks, 1)}, 1fr)`;
    const counts = new Array(numBlocks).fill(0);
    const rows = [];
    for (const s of servers) {
      const [a, b] = s.blocks;
      const online = s.state === 'online';
      for (let i = Math.max(0, a); i < Math.min(b, numBlocks); i += 1) if (online) counts[i] += 1;
      rows.push({ name: s.public_name || s.peer.slice(0, 8), a, b });
    }
    let row = 1;
    const label = (text) => {
      const node = make('span', 'label', text);
      node.style.gridRow = String(row);
      node.style.gridColumn = '1';
      el.coverage.append(node);
    };
    label('blocks');
    counts.forEach((n, i) => {
      const cell = make('span', `cell ${n === 0 ? 'missing' : n === 1 ? 'thin' : 'good'}`, String(i));
      cell.title = n === 0 ? `block ${i}: no server` : `block ${i}: ${n} server${n === 1 ? '' : 's'}`;
      cell.style.gridRow = String(row);
      cell.style.gridColumn = String(i + 2);
      el.coverage.append(cell);
    });
    for (const r of rows) {
      row += 1;
      label(r.name);
      if (r.b <= r.a) continue;
      const cell = make('span', 'cell server-cell', `${r.a}–${r.b - 1}`);
      cell.style.gridRow = String(row);
      cell.style.gridColumn = `${r.a + 2} / ${Math.min(r.b, numBlocks) + 2}`;
      el.coverage.append(cell);
    }
    const missing = counts.map((n, i) => (n === 0 ? i : -1)).filter((i) => i >= 0);
    const thin = counts.filter((n) => n === 1).length;
    let summary;
    if (missing.length) summary = `Blocks ${missing.join(', ')} have no server: the model cannot answer until one comes back.`;
    else if (thin) summary = `All ${numBlocks} blocks are covered; ${thin} of them by only one server.`;
    else summary = `All ${numBlocks} blocks are covered by at least two servers.`;
    el.coverage.setAttribute('aria-label', summary);
    return { missing, summary };
  }

  function drawServers(servers) {
    el.servers.replaceChildren();
    for (const s of servers) {
      const tr = make('tr');
      const earned = s.earned || {};
      const cells = [
        s.public_name || `${s.peer.slice(0, 12)}…`,
        `${s.blocks[0]}–${s.blocks[1] - 1}`,
        `${Number(s.throughput).toLocaleString('en-US', { maximumFractionDigits: 1 })} tok/s`,
        s.weights || 'f32',  // a record without the field is f32
        s.price_msat_per_1k_block_tokens ? formatMsat(s.price_msat_per_1k_block_tokens) : 'free',
        s.state,
        formatMsat(earned.accrued_msat || 0),  // all it earned here: income shares and paywall payments
      ];
      for (const c of cells) tr.append(make('td', '', String(c)));
      el.servers.append(tr);
    }
  }

  async function loadConfig() {
    try {
      const response = await fetch('/api/v1/webchat', { cache: 'no-store' });
      if (!response.ok) return;
      state.config = await response.json();
      if (state.config.context_length) state.maxLength = state.config.context_length;
      showPrice();
      await refreshCredit();
    } catch (e) {
      el.price.textContent = 'The gateway did not say its price; it will ask for payment if it needs one.';
    }
  }

  let swarmTimer = null;
  async function refreshSwarm() {
    clearTimeout(swarmTimer);
    swarmTimer = setTimeout(refreshSwarm, SWARM_REFRESH_MS);
    try {
      const response = await fetch('/api/v1/swarm', { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const swarm = await response.json();
      if (!state.model) describeModel(swarm.model, swarm.num_blocks);
      state.model = swarm.model;
      const servers = (swarm.servers || []).slice().sort((x, y) => x.blocks[0] - y.blocks[0] || x.blocks[1] - y.blocks[1]);
      const { summary } = drawCoverage(swarm.num_blocks, servers);
      el.swarmSummary.textContent = `${servers.length} server${servers.length === 1 ? '' : 's'}. ${summary}`;
      drawServers(servers);
    } catch (e) {
      el.swarmSummary.textContent = 'The gateway did not answer about the swarm; retrying shortly.';
      if (!state.model) el.modelName.textContent = 'The gateway is not answering. Retrying…';
    }
  }

  // ---------------------------------------------------------------------------------------
  // Wiring

  el.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = el.message.value.trim();
    if (!text || state.turn) return;
    el.message.value = '';
    sendMessage(text);
  });
  el.message.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      el.composer.requestSubmit();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.turn && !el.payDialog.open) stop();
  });
  el.payWebln.addEventListener('click', () => state.payment && state.payment.webln());
  el.payPreimageUse.addEventListener('click', () => state.payment && state.payment.preimage());
  el.payCancel.addEventListener('click', () => state.payment && state.payment.cancel());
  el.payDemo.addEventListener('click', () => state.payment && state.payment.demo());
  el.payRenew.addEventListener('click', () => state.payment && state.payment.renew());
  el.payDialog.addEventListener('cancel', (event) => {
    event.preventDefault();  // Escape: the same as Cancel
    if (state.payment) state.payment.cancel();
  });
  el.payCopy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(el.payInvoice.value);
      el.payStatus.textContent = 'Invoice copied.';
    } catch (e) {
      el.payInvoice.select();
      el.payStatus.textContent = 'The invoice is selected: copy it with Ctrl+C (or long-press on a phone).';
    }
  });
  el.stop.addEventListener('click', stop);
  el.newChat.addEventListener('click', newChat);
  el.swarmToggle.addEventListener('click', () => {
    el.swarm.hidden = !el.swarm.hidden;
    el.swarmToggle.setAttribute('aria-expanded', String(!el.swarm.hidden));
  });
  const showValue = (input, output) => {
    output.textContent = input.value;
    input.addEventListener('input', () => { output.textContent = input.value; });
  };
  showValue(el.temperature, el.temperatureValue);
  showValue(el.topP, el.topPValue);
  el.systemPrompt.addEventListener('change', () => {
    if (!state.transcript.length && !state.turn) state.system = el.systemPrompt.value;
  });

  loadConfig();
  refreshSwarm();
  el.message.focus();
})();
