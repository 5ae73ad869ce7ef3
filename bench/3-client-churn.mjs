// Figure 3: client connection churn, socklife against @opentelemetry/instrumentation-net with
// the same SDK. The measured processes are clients (CPU 0) that open and close connections,
// `concurrency` at a time, to a server in a separate process (CPU 1). Variants:
//   bare                    no instrumentation, no SDK (for reference)
//   sdk                     --require ./bench/lib/sdk.cjs
//   sdk+net                 ... --require ./bench/lib/instrumentation-net.cjs
//   sdk+socklife            ... --require socklife/register                  (defaults: stacks on)
//   sdk+socklife-nostacks   the same with SOCKLIFE_CAPTURE_STACKS=false        (stated: what the knob buys)
// Budget: socklife, which records far more, costs no more than instrumentation-net:
// connections/s(sdk+socklife) / connections/s(sdk+net) >= 1.00 (median of paired bursts).
import { interleave, knob, pairedRatio } from './lib/ab.mjs';
import { NET_INSTRUMENTATION, NodeChild, SDK, SOCKLIFE } from './lib/child.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmt, median, pct } from './lib/stats.mjs';

const VARIANTS = {
  bare: [{}, []],
  sdk: [{}, SDK],
  'sdk+net': [{}, [...SDK, ...NET_INSTRUMENTATION]],
  'sdk+socklife': [{}, [...SDK, ...SOCKLIFE]],
  'sdk+socklife-nostacks': [{ SOCKLIFE_CAPTURE_STACKS: 'false' }, [...SDK, ...SOCKLIFE]],
};

const figure = new Figure('3-client-churn', 'client connection churn: socklife vs @opentelemetry/instrumentation-net, same SDK');

await runFigure(figure, async () => {
  const cycles = knob('CYCLES', 12);
  const instances = knob('INSTANCES', 3);
  const ms = knob('SECONDS', 1) * 1000;
  const warmupMs = knob('WARMUP_SECONDS', 1) * 1000;
  const concurrency = knob('CHURN_CONCURRENCY', 16);
  figure.note('load', `each measured client keeps ${concurrency} connections in flight (connect, read the server's reply, close) for ${ms} ms per burst, pinned to CPU 0; server in a separate process on CPU 1; ${instances} processes per variant, ${cycles} cycles`);
  const server = new NodeChild('churn-server.cjs', { cpu: 1 });
  try {
    const { port } = await server.waitForType('ready', 30_000);
    const results = await interleave({
      variants: Object.keys(VARIANTS),
      instances,
      cycles,
      async start(variant, k) {
        const [env, nodeArgs] = VARIANTS[variant];
        const client = new NodeChild('churn-client.cjs', { nodeArgs, env, args: [port, concurrency].map(String), cpu: 0, profile: true, label: `churn-${variant}-${k}` });
        await client.waitForType('ready', 30_000);
        await client.request({ cmd: 'burst', ms: warmupMs });
        return client;
      },
      burst: (client) => client.request({ cmd: 'burst', ms }),
      async stop(client) {
        await client.stop();
      },
      log(variant, cycle, r) {
        if (process.env.BENCH_VERBOSE !== '1' && cycle !== 0) return;
        console.log(`    cycle ${cycle + 1} ${variant.padEnd(22)} ${fmt(r.rate).padStart(6)} conn/s  ${fmt(r.cpuUsPerConnection)} µs CPU/conn${r.errors ? `  errors ${r.errors}` : ''}`);
      },
    });
    const rate = (v) => median(results[v].map((r) => r.rate));
    const cpu = (v) => median(results[v].map((r) => r.cpuUsPerConnection));
    for (const v of Object.keys(VARIANTS)) console.log(`    median ${v.padEnd(22)} ${fmt(rate(v)).padStart(6)} conn/s  ${fmt(cpu(v))} µs CPU/conn`);
    const costOf = (v) => 1 - pairedRatio(results[v], results.sdk, (r) => r.rate).ratio;
    const c = pairedRatio(results['sdk+socklife'], results['sdk+net'], (r) => r.rate);
    figure.check({
      figure: '3',
      what: 'connections/s, SDK+socklife / SDK+instrumentation-net (socklife costs no more)',
      budget: '>= 1.00',
      measured: c.ratio.toFixed(3),
      pass: c.ratio >= 1,
      detail:
        `median of ${c.ratios.length} paired bursts; throughput lost against the SDK alone: socklife ${pct(costOf('sdk+socklife'))}, instrumentation-net ${pct(costOf('sdk+net'))}; ` +
        `client CPU per connection: SDK alone ${fmt(cpu('sdk'))} µs, +instrumentation-net ${fmt(cpu('sdk+net') - cpu('sdk'))} µs, +socklife ${fmt(cpu('sdk+socklife') - cpu('sdk'))} µs; ` +
        `medians ${fmt(rate('sdk+socklife'))} / ${fmt(rate('sdk+net'))} / ${fmt(rate('sdk'))} (SDK only) / ${fmt(rate('bare'))} (bare) conn/s`,
    });
    const ns = pairedRatio(results['sdk+socklife-nostacks'], results['sdk+net'], (r) => r.rate);
    figure.stated('3', 'connections/s with captureStacks: false, SDK+socklife / SDK+instrumentation-net', ns.ratio.toFixed(3), `client CPU per connection +${fmt(cpu('sdk+socklife-nostacks') - cpu('sdk'))} µs over the SDK alone (stacks on: +${fmt(cpu('sdk+socklife') - cpu('sdk'))} µs)`);
    figure.note('runs', Object.fromEntries(Object.entries(results).map(([v, rs]) => [v, { rate: rate(v), cpuUsPerConnection: cpu(v), bursts: rs }])));
  } finally {
    await server.stop();
  }
});
