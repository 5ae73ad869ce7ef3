#!/usr/bin/env node
// Test harness: puts one real TCP socket into a chosen state and holds it there.
//
// Run it INSIDE a private network namespace, after the nftables ruleset that
// `rulesFor(state, ports)` in ./states.ts returns has been applied there:
//
//   ip netns exec NAME node test/harness/state-factory.mjs <state> \
//       --server-port 20001 --client-port 26001 [--family 4|6]
//
// Plain JavaScript so that it runs with `node` and no TypeScript loader. It uses only
// loopback (127.0.0.1 or ::1) and fixed ports chosen by the caller, so the 4-tuple is
// known in advance and the rules can name it.
//
// When the kernel table (/proc/net/tcp or tcp6, read directly: no child process) shows the
// socket in the requested state, it prints ONE JSON line to stdout:
//
//   {"state":"close_wait","role":"server","local":{"address":"127.0.0.1","port":20001},
//    "peer":{"address":"127.0.0.1","port":26001},"pid":1234}
//
// `local` is the endpoint of the socket that is in the state. For `listen` the peer is the
// wildcard (`0.0.0.0`/`::`, port 0). For `closed` the tuple is the one of a connection that
// existed and was reset, and the kernel has no row for it any more.
//
// It then holds every socket open until stdin closes or SIGTERM/SIGINT arrives, and exits 0.
// On failure it prints {"error":"..."} on stdout and exits 1.
//
// State names: the OpenTelemetry values (`syn_received`), case-insensitive; `SYN_RECV`-style
// kernel spellings and dashes are accepted too.

import net from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** Kernel state numbers (include/net/tcp_states.h), as /proc/net/tcp prints them. */
const KERNEL_STATE = {
  established: 0x01,
  syn_sent: 0x02,
  syn_received: 0x03, // request socks (TCP_NEW_SYN_RECV) are printed as 03 too
  fin_wait_1: 0x04,
  fin_wait_2: 0x05,
  time_wait: 0x06,
  closed: 0x07,
  close_wait: 0x08,
  last_ack: 0x09,
  listen: 0x0a,
  closing: 0x0b,
};

const ALIASES = { syn_recv: 'syn_received', estab: 'established', fin_wait1: 'fin_wait_1', fin_wait2: 'fin_wait_2', close: 'closed' };

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'server-port': { type: 'string' },
    'client-port': { type: 'string' },
    family: { type: 'string', default: '4' },
    'timeout-ms': { type: 'string', default: '8000' },
  },
});

const rawState = (positionals[0] ?? '').toLowerCase().replace(/-/g, '_');
const state = ALIASES[rawState] ?? rawState;
if (values.family !== '4' && values.family !== '6') fail(`--family must be 4 or 6, got ${JSON.stringify(values.family)}`);
const family = values.family === '6' ? 6 : 4;
const host = family === 6 ? '::1' : '127.0.0.1';
const anyHost = family === 6 ? '::' : '0.0.0.0';
const serverPort = toPort(values['server-port'], '--server-port');
const clientPort = toPort(values['client-port'], '--client-port');
const timeoutMs = Number(values['timeout-ms']);
if (!(timeoutMs > 0)) fail(`--timeout-ms must be a positive number, got ${JSON.stringify(values['timeout-ms'])}`);

/** Everything that must stay referenced (and open) while the state is held. */
const held = [];
let reported = false;
/** Set while a recipe provokes errors on purpose (the reset in `closed`). */
let errorsExpected = false;

function toPort(text, name) {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name} must be a port number, got ${JSON.stringify(text)}`);
  return port;
}

function fail(message) {
  process.stdout.write(JSON.stringify({ error: String(message), state: rawState, pid: process.pid }) + '\n');
  process.exit(1);
}

function report(role, local, peer) {
  if (reported) return;
  reported = true;
  clearTimeout(deadline);
  process.stdout.write(JSON.stringify({ state, role, local, peer, pid: process.pid }) + '\n');
}

const serverEnd = () => ({ address: host, port: serverPort });
const clientEnd = () => ({ address: host, port: clientPort });

// ---------------------------------------------------------------------------------------
// Kernel view without a child process: /proc/net/tcp{,6} of our own network namespace.

/** Rows of the table for our family: { localPort, peerPort, state }. Ports identify a socket: the namespace is private. */
function kernelRows() {
  const text = readFileSync(family === 6 ? '/proc/net/tcp6' : '/proc/net/tcp', 'utf8');
  const rows = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const localPort = parseInt(f[1].split(':')[1], 16);
    const peerPort = parseInt(f[2].split(':')[1], 16);
    rows.push({ localPort, peerPort, state: parseInt(f[3], 16) });
  }
  return rows;
}

function kernelStateOf(localPort, peerPort) {
  return kernelRows().find((r) => r.localPort === localPort && r.peerPort === peerPort)?.state;
}

/** Polls until `check()` returns a truthy value, then resolves with it. */
async function until(check, what) {
  const started = Date.now();
  for (;;) {
    const result = check();
    if (result) return result;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until the socket localPort→peerPort is in `wanted`, then reports it. */
async function reportWhenKernelShows(role, wanted, localEnd, peerEnd) {
  const code = KERNEL_STATE[wanted];
  await until(() => kernelStateOf(localEnd.port, peerEnd.port) === code, `${wanted} on ${localEnd.port}->${peerEnd.port}`);
  report(role, localEnd, peerEnd);
}

// ---------------------------------------------------------------------------------------
// Building blocks.

function listen(options = {}) {
  const server = net.createServer(options);
  held.push(server);
  server.on('error', (e) => fail(`server: ${e.message}`));
  return new Promise((resolve) => server.listen({ port: serverPort, host, backlog: 16 }, () => resolve(server)));
}

/** A client from the fixed client port. Errors after the state is reached are expected (timeouts, resets) and ignored. */
function connect(options = {}) {
  const socket = net.connect({ port: serverPort, host, localAddress: host, localPort: clientPort, family, ...options });
  held.push(socket);
  socket.on('error', (e) => {
    if (!reported && !errorsExpected) fail(`client: ${e.message}`);
  });
  return socket;
}

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** The server side of the next accepted connection; errors after reporting are ignored. */
function accepted(server) {
  return once(server, 'connection').then((socket) => {
    held.push(socket);
    socket.on('error', (e) => {
      if (!reported && !errorsExpected) fail(`accepted socket: ${e.message}`);
    });
    return socket;
  });
}

// ---------------------------------------------------------------------------------------
// One recipe per state. The comment names the nftables rules (from rulesFor) it relies on.

const recipes = {
  // A listening socket. No rules.
  async listen() {
    await listen();
    await until(() => kernelStateOf(serverPort, 0) === KERNEL_STATE.listen, 'LISTEN');
    report('server', serverEnd(), { address: anyHost, port: 0 });
  },

  // A connected pair; the client end is reported. No rules.
  async established() {
    const server = await listen();
    const serverSide = accepted(server);
    const client = connect();
    await once(client, 'connect');
    await serverSide;
    await reportWhenKernelShows('client', 'established', clientEnd(), serverEnd());
  },

  // Rules: drop SYNs to the server port. Nobody listens; the client retransmits its SYN
  // (tcp_syn_retries, about two minutes) and stays in SYN_SENT.
  async syn_sent() {
    connect();
    await reportWhenKernelShows('client', 'syn_sent', clientEnd(), serverEnd());
  },

  // Rules: drop pure ACKs client -> server. The handshake's third segment never arrives, so
  // the server holds a request sock (TCP_NEW_SYN_RECV, shown as SYN-RECV) and retransmits
  // SYN+ACK (tcp_synack_retries, about a minute). The client believes it is ESTABLISHED and
  // sends nothing, so no other segment completes the handshake. Never accepted by Node.
  async syn_received() {
    await listen();
    const client = connect();
    await once(client, 'connect');
    await reportWhenKernelShows('server', 'syn_received', serverEnd(), clientEnd());
  },

  // Rules: drop pure ACKs server -> client. The client sends FIN; the ACK of it is lost,
  // so the client retransmits its FIN and stays in FIN_WAIT_1. The server is paused (never
  // reads the FIN, never ends), so it never sends a FIN of its own. The client keeps its fd.
  async fin_wait_1() {
    const server = await listen({ pauseOnConnect: true });
    const serverSide = accepted(server);
    const client = connect();
    await once(client, 'connect');
    await serverSide;
    client.end();
    await reportWhenKernelShows('client', 'fin_wait_1', clientEnd(), serverEnd());
  },

  // No rules. The client ends; the server (allowHalfOpen, reads the FIN, never ends) ACKs
  // it and keeps its side open. Client: FIN_WAIT_2 with its fd open (tcp_fin_timeout only
  // applies to orphans). Server: CLOSE_WAIT, the classic leak.
  async fin_wait_2() {
    await halfClosedPair();
    await reportWhenKernelShows('client', 'fin_wait_2', clientEnd(), serverEnd());
  },

  async close_wait() {
    await halfClosedPair();
    await reportWhenKernelShows('server', 'close_wait', serverEnd(), clientEnd());
  },

  // Rules: drop pure ACKs client -> server (the same as syn_received). The handshake's ACK
  // is lost, so the server holds a request sock; the client's FIN (FIN+ACK) then completes
  // the handshake and is processed by the new child, which goes straight to CLOSE_WAIT.
  // Node accepts it (paused, so it never reads the FIN and never auto-destroys) and ends:
  // the server sends FIN and is in LAST_ACK. The client ACKs that FIN from TIME_WAIT, and
  // that pure ACK is dropped, every retransmission over. The server keeps its fd.
  async last_ack() {
    const server = await listen({ pauseOnConnect: true });
    const serverSide = accepted(server);
    const client = connect();
    await once(client, 'connect');
    client.end();
    const socket = await serverSide;
    await until(() => kernelStateOf(serverPort, clientPort) === KERNEL_STATE.close_wait, 'server CLOSE_WAIT before end()');
    socket.end();
    await reportWhenKernelShows('server', 'last_ack', serverEnd(), clientEnd());
  },

  // Rules: drop every FIN from client to server. The client ends first: its FIN is lost
  // (FIN_WAIT_1). Then the server ends: its FIN reaches the client, and since the server
  // never saw the client's FIN, it does not acknowledge it. The client has sent a FIN, got
  // the peer's FIN, and its own FIN is unacknowledged: CLOSING, the simultaneous-close
  // state. It ACKs the server's FIN (so the server sits in FIN_WAIT_2) and retransmits its
  // own FIN, which is dropped every time (tcp_retries2, many minutes). Both sides are paused
  // (Node never reads the FIN), so no fd is closed. A symmetric variant (both first FINs
  // lost, ACKs dropped) does not hold: the two retransmitted FINs acknowledge each other and
  // both sides reach TIME_WAIT within a second.
  async closing() {
    const server = await listen({ pauseOnConnect: true });
    const serverSide = accepted(server);
    const client = connect();
    client.pause();
    await once(client, 'connect');
    const socket = await serverSide;
    client.end();
    await until(() => kernelStateOf(clientPort, serverPort) === KERNEL_STATE.fin_wait_1, 'client FIN_WAIT_1 before the server ends');
    socket.end();
    await reportWhenKernelShows('client', 'closing', clientEnd(), serverEnd());
  },

  // No rules. The client ends first, the server (default allowHalfOpen: false) ends back,
  // the client ACKs the server's FIN and its row becomes a TIME_WAIT mini-socket for 60 s
  // (no inode). The Node client socket is closed by then.
  async time_wait() {
    const server = await listen();
    const serverSide = accepted(server);
    const client = connect();
    await once(client, 'connect');
    const socket = await serverSide;
    socket.resume();
    const closed = once(client, 'close');
    client.end();
    client.resume();
    await closed;
    await reportWhenKernelShows('client', 'time_wait', clientEnd(), serverEnd());
  },

  // No rules. A connection that existed and was reset (client resetAndDestroy(): RST, so
  // no TIME_WAIT on either side). The kernel has no row for its 4-tuple any more.
  async closed() {
    const server = await listen();
    const serverSide = accepted(server);
    const client = connect();
    await once(client, 'connect');
    const socket = await serverSide;
    const serverClosed = once(socket, 'close');
    const clientClosed = once(client, 'close');
    errorsExpected = true; // the server side gets ECONNRESET
    client.resetAndDestroy();
    await Promise.all([serverClosed, clientClosed]);
    await until(
      () => kernelStateOf(clientPort, serverPort) === undefined && kernelStateOf(serverPort, clientPort) === undefined,
      'no row for the reset connection',
    );
    report('client', clientEnd(), serverEnd());
  },
};

async function halfClosedPair() {
  const server = await listen({ allowHalfOpen: true });
  const serverSide = accepted(server);
  const client = connect();
  await once(client, 'connect');
  const socket = await serverSide;
  socket.resume(); // read to EOF: 'end' fires, and with allowHalfOpen nothing ends our side
  client.end();
}

// ---------------------------------------------------------------------------------------

const recipe = Object.hasOwn(recipes, state) ? recipes[state] : undefined;
if (!recipe) fail(`unknown state ${JSON.stringify(positionals[0])}; expected one of ${Object.keys(recipes).join(', ')}`);

const deadline = setTimeout(() => fail(`state ${state} not reached within ${timeoutMs} ms`), timeoutMs + 1000);

function exit() {
  for (const h of held) {
    try {
      if (h instanceof net.Server) h.close();
      else h.destroy();
    } catch {
      // exiting anyway
    }
  }
  process.exit(0);
}

process.on('SIGTERM', exit);
process.on('SIGINT', exit);
process.stdin.on('end', exit);
process.stdin.on('close', exit);
process.stdin.on('error', exit);
process.stdin.resume();

recipe().catch((e) => fail(e instanceof Error ? e.message : e));
