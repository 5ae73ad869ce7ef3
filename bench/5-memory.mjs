// Figure 5: retained heap per tracked idle connection. 10k idle connections held by the
// measured process (run with --expose-gc), heap measured after repeated full GCs before and
// after; socklife's share is the difference to the same process without socklife. Both
// sides: accepted (server) and connected (client) sockets. Budget: <= 1 KB, without an SDK and
// with one under the default span policy (anomalies: a healthy connection has no span).
import { alternate, knob } from './lib/ab.mjs';
import { NodeChild, SDK, SOCKLIFE, stopAll } from './lib/child.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmtBytes, median } from './lib/stats.mjs';

const VARIANTS = {
  bare: [],
  socklife: SOCKLIFE,
  sdk: SDK,
  'sdk+socklife': [...SDK, ...SOCKLIFE],
};

/** How long the connections stay idle before the measurement: past one default poll (5 s) plus a second. */
const IDLE_MS = knob('IDLE_MS', 6500);

const figure = new Figure('5-memory', 'retained heap per tracked idle connection, 10k idle connections, after GC');

async function measure(variant, side, count) {
  const holder = new NodeChild('idle-holder.cjs', {
    nodeArgs: ['--expose-gc', ...VARIANTS[variant]],
    args: [JSON.stringify({ side })],
    cpu: 0,
    label: `idle-${side}-${variant}`,
  });
  const children = [holder];
  try {
    const ready = await holder.waitForType('ready', 30_000);
    if (side === 'server') {
      const peer = new NodeChild('idle-peer.cjs', { args: [JSON.stringify({ role: 'connect', host: '127.0.0.1', port: ready.port, count })], cpu: 1 });
      children.push(peer);
      const done = await peer.waitForType('done', 120_000);
      if (done.errors) throw new Error(`${done.errors} idle connections failed`);
    } else {
      const peer = new NodeChild('idle-peer.cjs', { args: [JSON.stringify({ role: 'accept' })], cpu: 1 });
      children.push(peer);
      const { port } = await peer.waitForType('ready', 30_000);
      const done = await holder.request({ cmd: 'connect', port, count }, 120_000);
      if (done.errors) throw new Error(`${done.errors} idle connections failed`);
    }
    return await holder.request({ cmd: 'measure', count, idleMs: IDLE_MS }, 120_000);
  } finally {
    await stopAll(children);
  }
}

await runFigure(figure, async () => {
  const count = knob('IDLE_CONNECTIONS', 10_000);
  const reps = knob('MEMORY_REPS', 1);
  figure.note(
    'method',
    `${count} idle connections; heapUsed after 6 × gc() before and after; idle ${IDLE_MS} ms before the measurement (socklife's poll compacts the creation stacks of connections older than 1 s); per connection = (after − before) / ${count}; socklife's share = variant − same variant without socklife; median of ${reps} alternated runs; socklife defaults (stacks on)`,
  );
  for (const side of ['server', 'client']) {
    const results = await alternate({
      variants: Object.keys(VARIANTS),
      reps,
      run: (variant) => measure(variant, side, count),
      log: (variant, rep, r) =>
        console.log(
          `    ${side} rep ${rep + 1} ${variant.padEnd(13)} ${fmtBytes(r.perConnection)} per connection (heap ${fmtBytes(r.before)} → ${fmtBytes(r.after)})`,
        ),
    });
    const per = (v) => median(results[v].map((r) => r.perConnection));
    const noSdk = per('socklife') - per('bare');
    const withSdk = per('sdk+socklife') - per('sdk');
    const sideLabel = side === 'server' ? 'accepted (server) connections' : 'connected (client) connections';
    figure.check({
      figure: `5-${side}`,
      what: `retained heap per tracked idle connection, no SDK, ${sideLabel}`,
      budget: '<= 1 KB (1024 B)',
      measured: fmtBytes(noSdk),
      pass: noSdk <= 1024,
      detail: `${fmtBytes(per('socklife'))} with socklife − ${fmtBytes(per('bare'))} without, per connection`,
    });
    figure.check({
      figure: `5-${side}`,
      what: `retained heap per tracked idle connection, with the SDK, default span policy (anomalies: no span while healthy), ${sideLabel}`,
      budget: '<= 1 KB (1024 B)',
      measured: fmtBytes(withSdk),
      pass: withSdk <= 1024,
      detail: `${fmtBytes(per('sdk+socklife'))} with SDK and socklife − ${fmtBytes(per('sdk'))} with the SDK only; the record keeps the parent context and state changes`,
    });
    figure.note(side, results);
  }
});
