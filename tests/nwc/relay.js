// A small Nostr relay (NIP-01) for the Nostr Wallet Connect tests, on `ws` and nostr-tools:
// accepts EVENT (verified with nostr-tools' verifyEvent; answered with OK), REQ (stored
// matches, then EOSE, then live events matching the filters) and CLOSE; anything else gets a
// NOTICE. Listens on 127.0.0.1 on a free port and prints {"url": "ws://127.0.0.1:PORT"}
// (wss:// with --tls CERT_PEM KEY_PEM).
// With --hostile it plays a lying relay: it skips verification and forwards every live event
// to every subscription, so that only the client's own checks stand between it and forgeries.
'use strict';
const { WebSocketServer } = require('ws');
const { verifyEvent } = require('nostr-tools/pure');
const { matchFilters } = require('nostr-tools/filter');

const hostile = process.argv.includes('--hostile');
const events = [];
const clients = new Set();

function send(ws, msg) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
}

function limited(filters, list) {
  let out = list.filter((e) => matchFilters(filters, e));
  out.sort((a, b) => b.created_at - a.created_at);
  const limit = Math.min(...filters.map((f) => (typeof f.limit === 'number' ? f.limit : Infinity)));
  if (Number.isFinite(limit)) out = out.slice(0, limit);
  return out;
}

// --tls CERT_PEM KEY_PEM: serve wss:// (HTTPS) with that certificate.
const tlsAt = process.argv.indexOf('--tls');
const httpsServer = tlsAt < 0 ? null : require('https').createServer({
  cert: require('fs').readFileSync(process.argv[tlsAt + 1]), key: require('fs').readFileSync(process.argv[tlsAt + 2]),
});
const wss = httpsServer
  ? new WebSocketServer({ server: httpsServer, maxPayload: 1 << 20 })
  : new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1 << 20 });
wss.on('connection', (ws) => {
  const subs = new Map();
  const client = { ws, subs };
  clients.add(client);
  ws.on('close', () => clients.delete(client));
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString('utf8'));
    } catch (e) {
      return send(ws, ['NOTICE', 'invalid: not JSON']);
    }
    if (!Array.isArray(msg) || typeof msg[0] !== 'string') return send(ws, ['NOTICE', 'invalid: not a relay message']);
    if (msg[0] === 'EVENT') {
      const ev = msg[1];
      if (!ev || typeof ev !== 'object' || (!hostile && !verifyEvent(ev))) {
        return send(ws, ['OK', ev && typeof ev.id === 'string' ? ev.id : '', false, 'invalid: bad id or signature']);
      }
      // Replaceable events (10000-19999, the NWC info event among them): keep only the newest.
      if (ev.kind >= 10000 && ev.kind < 20000) {
        for (let i = events.length - 1; i >= 0; i--) {
          if (events[i].kind === ev.kind && events[i].pubkey === ev.pubkey) events.splice(i, 1);
        }
      }
      // Ephemeral events (20000-29999: NWC requests and responses) are forwarded, not stored.
      if (!(ev.kind >= 20000 && ev.kind < 30000)) events.push(ev);
      send(ws, ['OK', ev.id, true, '']);
      for (const c of clients) {
        for (const [id, filters] of c.subs) {
          if (hostile || matchFilters(filters, ev)) send(c.ws, ['EVENT', id, ev]);
        }
      }
    } else if (msg[0] === 'REQ' && typeof msg[1] === 'string') {
      const filters = msg.slice(2);
      subs.set(msg[1], filters);
      for (const ev of limited(filters, events)) send(ws, ['EVENT', msg[1], ev]);
      send(ws, ['EOSE', msg[1]]);
    } else if (msg[0] === 'CLOSE' && typeof msg[1] === 'string') {
      subs.delete(msg[1]);
    } else {
      send(ws, ['NOTICE', 'invalid: unknown message type']);
    }
  });
});
if (httpsServer) {
  httpsServer.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: `wss://127.0.0.1:${httpsServer.address().port}` })));
} else {
  wss.on('listening', () => console.log(JSON.stringify({ url: `ws://127.0.0.1:${wss.address().port}` })));
}
