// A legacy Translator Speech client on the `websocket` npm library, ending its session the way
// the library does: its Close frame, then at once socket.end() (TCP shutdown(SHUT_WR), over
// TLS a close_notify first). The Node quickstart, NodeJs-Example and ms-translator-speech-service
// are built on this library. Unlike connection.close(), which also stops the library from
// delivering anything more, sendCloseFrame() sends the same Close and half-close and keeps
// delivering messages: this client reads on for `read_ms`, so a test sees every final the
// server still sends after the Close, and the server's own Close.
//
// Usage: node legacy_half_close.js '<json spec>'
//   spec: {url, key, file, chunk_bytes (0: the whole file in one message), interval_ms,
//          silence_bytes (zeros after the file), read_ms}
// Prints one JSON line per event: {"event": "text", "data": {...}}, {"event": "binary",
// "bytes": N}, {"event": "server_close", "code": N}, {"event": "close", ...}, {"event": "error",
// ...}, {"event": "done"}.
// wss:// URLs trust NODE_EXTRA_CA_CERTS, as Node does.
'use strict';

const fs = require('fs');
const WebSocketClient = require('websocket').client;

const spec = JSON.parse(process.argv[2]);
const print = (event) => process.stdout.write(JSON.stringify(event) + '\n');

function pieces(audio, size) {
  if (!size) return [audio];
  const out = [];
  for (let start = 0; start < audio.length; start += size) {
    out.push(audio.subarray(start, start + size));
  }
  return out;
}

const client = new WebSocketClient({ maxReceivedMessageSize: 64 * 1024 * 1024 });
client.on('connectFailed', (error) => {
  print({ event: 'connectFailed', error: String(error) });
  process.exit(2);
});
client.on('connect', (connection) => {
  connection.on('message', (message) => {
    if (message.type === 'utf8') {
      print({ event: 'text', data: JSON.parse(message.utf8Data) });
    } else {
      print({ event: 'binary', bytes: message.binaryData.length });
    }
  });
  connection.on('close', (code, description) => print({ event: 'close', code, description }));
  // The library reports the server's Close only through 'close', whose code a failed echo
  // (the socket was ended) turns into 1006: note the Close frame itself as it is processed.
  const processFrame = connection.processFrame;
  connection.processFrame = function (frame) {
    if (frame.opcode === 0x08) {
      print({ event: 'server_close', code: frame.closeStatus });
    }
    return processFrame.call(this, frame);
  };
  connection.on('error', (error) => print({ event: 'error', error: String(error) }));

  const audio = Buffer.concat([
    fs.readFileSync(spec.file),
    Buffer.alloc(spec.silence_bytes || 0),
  ]);
  const queue = pieces(audio, spec.chunk_bytes || 0);
  const next = () => {
    if (queue.length) {
      connection.sendBytes(queue.shift());
      setTimeout(next, spec.interval_ms || 0);
      return;
    }
    print({ event: 'closing' });
    connection.sendCloseFrame(1000, 'end of file'); // the Close, then socket.end()
    setTimeout(() => {
      print({ event: 'done' });
      process.exit(0);
    }, spec.read_ms);
  };
  next();
});
client.connect(spec.url, null, null, { 'Ocp-Apim-Subscription-Key': spec.key });
