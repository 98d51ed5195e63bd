// The meshcp matrix's proxyless gRPC test program for @grpc/grpc-js-xds.
//
//   client: node echo.cjs client xds:///echo.shop:50051   (needs GRPC_XDS_BOOTSTRAP)
//           stdin "call COUNT TIMEOUT_MS [PAYLOAD]" → one JSON line per RPC, then {"done":COUNT}
//   server: node echo.cjs server --port 50051 --name v1 [--fail]
//
// Messages are google.protobuf.StringValue, encoded by hand, so every language's
// program talks to every other. Run with NODE_PATH pointing at the installed packages.
'use strict';
const grpc = require('@grpc/grpc-js');
const readline = require('node:readline');

const METHOD = '/meshcp.test.Echo/Who';

function encode(text) {
  const data = Buffer.from(text ?? '', 'utf8');
  if (data.length === 0) return Buffer.alloc(0);
  const head = [0x0a];
  let length = data.length;
  while (length >= 0x80) {
    head.push((length & 0x7f) | 0x80);
    length >>>= 7;
  }
  head.push(length);
  return Buffer.concat([Buffer.from(head), data]);
}

function decode(raw) {
  let i = 0;
  while (i < raw.length) {
    const tag = raw[i++];
    let length = 0;
    let shift = 0;
    for (;;) {
      const b = raw[i++];
      length |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) break;
    }
    if (tag === 0x0a) return raw.subarray(i, i + length).toString('utf8');
    i += length;
  }
  return '';
}

function client(target) {
  require('@grpc/grpc-js-xds').register();
  const channel = new grpc.Client(target, grpc.credentials.createInsecure());
  process.stdout.write('{"ready":true}\n');
  const call = (payload, timeoutMs) =>
    new Promise((resolve) => {
      const started = process.hrtime.bigint();
      const ms = () => Number(process.hrtime.bigint() - started) / 1e6;
      channel.makeUnaryRequest(METHOD, (b) => b, (b) => b, encode(payload), { deadline: Date.now() + timeoutMs }, (error, reply) => {
        if (error) resolve({ ok: false, code: error.code, message: error.details ?? error.message, ms: ms() });
        else resolve({ ok: true, backend: decode(reply), ms: ms() });
      });
    });
  const lines = readline.createInterface({ input: process.stdin });
  const queue = [];
  let busy = false;
  const drain = async () => {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const fields = queue.shift().trim().split(' ');
      if (fields.length < 3 || fields[0] !== 'call') continue;
      const count = Number(fields[1]);
      const payload = fields.slice(3).join(' ');
      for (let i = 0; i < count; i++) process.stdout.write(`${JSON.stringify(await call(payload, Number(fields[2])))}\n`);
      process.stdout.write(`${JSON.stringify({ done: count })}\n`);
    }
    busy = false;
  };
  lines.on('line', (line) => {
    queue.push(line);
    void drain();
  });
  lines.on('close', () => {
    const wait = setInterval(() => {
      if (!busy && queue.length === 0) {
        clearInterval(wait);
        channel.close();
        process.exit(0);
      }
    }, 20);
  });
}

function server(args) {
  let port = 0;
  let name = 'node';
  let fail = false;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--name') name = args[++i];
    else if (args[i] === '--fail') fail = true;
  }
  const server = new grpc.Server();
  server.register(
    METHOD,
    (call, callback) => {
      if (fail) return callback({ code: grpc.status.UNAVAILABLE, details: `meshcp-test: ${name} fails on purpose` });
      const payload = decode(call.request);
      const delay = payload.startsWith('sleep=') ? Number(payload.slice(6)) : 0;
      setTimeout(() => callback(null, encode(name)), delay);
    },
    (b) => b,
    (b) => b,
    'unary',
  );
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
    if (error) {
      process.stderr.write(`listen: ${error.message}\n`);
      process.exit(2);
    }
    process.stdout.write(`${JSON.stringify({ listening: bound })}\n`);
  });
}

const [mode, arg] = process.argv.slice(2);
if (mode === 'client' && arg) client(arg);
else if (mode === 'server') server(process.argv.slice(3));
else {
  process.stderr.write('usage: client xds:///TARGET | server --port N --name NAME [--fail]\n');
  process.exit(2);
}
