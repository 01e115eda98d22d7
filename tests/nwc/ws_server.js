// A WebSocket server on npm `ws` for testing petalsln's RFC 6455 client. The path picks the
// behaviour: /echo echoes; /fragments answers each message with "frag-" + it, sent in three
// fragments with a ping between them; /ping pings the client and reports the pong's payload;
// /big?n=N sends one text message of N 'x'; /close closes with code 4001 on the first message;
// /badutf8 sends a text frame that is not UTF-8; /binary echoes as binary; /silent never
// answers; /badaccept (a plain HTTP handler) answers the upgrade with a wrong
// Sec-WebSocket-Accept; /refuse answers 403. Prints {"port": N}.
// With --tls CERT_PEM KEY_PEM it serves wss:// (HTTPS) with that certificate instead.
'use strict';
const fs = require('fs');
const http = require('http');
const https = require('https');
const { WebSocketServer } = require('ws');

const tlsAt = process.argv.indexOf('--tls');
const notFound = (req, res) => { res.writeHead(404); res.end(); };
const server = tlsAt < 0
  ? http.createServer(notFound)
  : https.createServer({ cert: fs.readFileSync(process.argv[tlsAt + 1]), key: fs.readFileSync(process.argv[tlsAt + 2]) },
                       notFound);
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/badaccept') {
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
               'Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n');
    return;
  }
  if (url.pathname === '/refuse') {
    socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, url));
});

wss.on('connection', (ws, url) => {
  const path = url.pathname;
  if (path === '/big') ws.send('x'.repeat(Number(url.searchParams.get('n'))));
  if (path === '/badutf8') ws.send(Buffer.from([0x68, 0xc3, 0x28]), { binary: false });
  if (path === '/ping') {
    ws.on('pong', (data) => ws.send(`pong:${data.toString()}`));
    ws.ping('hello-ping');
  }
  ws.on('ping', (data) => { if (path === '/echo') ws.send(`got-ping:${data.toString()}`); });
  ws.on('message', (data, isBinary) => {
    if (path === '/echo') ws.send(data, { binary: isBinary });
    if (path === '/binary') ws.send(data, { binary: true });
    if (path === '/close') ws.close(4001, 'bye');
    if (path === '/fragments') {
      const text = `frag-${data.toString()}`;
      const third = Math.ceil(text.length / 3);
      ws.send(text.slice(0, third), { fin: false });
      ws.ping('mid');
      ws.send(text.slice(third, 2 * third), { fin: false });
      ws.send(text.slice(2 * third), { fin: true });
    }
  });
});

server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
