// Figure 3: client connection churn, socklife against @opentelemetry/instrumentation-net with
// the same SDK. The measured process is a client (CPU 0) that opens and closes connections,
// `concurrency` at a time, to a server in a separate process (CPU 1). Variants:
//   bare                    no instrumentation, no SDK (for reference)
//   sdk                     --require ./bench/lib/sdk.cjs
//   sdk+net                 ... --require ./bench/lib/instrumentation-net.cjs (one span per connection)
//   sdk+socklife            ... --require socklife/register: defaults (spans: anomalies, stacks on)
//   sdk+socklife-all        the same with SOCKLIFE_SPANS=all                   (stated)
//   sdk+socklife-nostacks   the default policy with SOCKLIFE_CAPTURE_STACKS=false (stated)
//   sdk+net+stacks          instrumentation-net plus V8's capture of the same creation stack
//                           socklife takes, nothing kept (bench/lib/stack-capture.cjs): the
//                           floor the budget meets once stacks are on (stated)
// Budget: with creation stacks on, socklife's default policy costs less client CPU per
// connection than instrumentation-net: cpu(sdk+socklife) / cpu(sdk+net) < 1.00.
// As in figures 1-2, one client and its server run at a time, fresh, in a network namespace
// of their own; rounds rotate the order of the variants.
import { alternate, knob, pairedRatio } from './lib/ab.mjs';
import { NET_INSTRUMENTATION, NodeChild, SDK, SOCKLIFE, STACK_CAPTURE } from './lib/child.mjs';
import { quartiles } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmt, median } from './lib/stats.mjs';

const VARIANTS = {
  bare: [{}, []],
  sdk: [{}, SDK],
  'sdk+net': [{}, [...SDK, ...NET_INSTRUMENTATION]],
  'sdk+socklife': [{}, [...SDK, ...SOCKLIFE]],
  'sdk+socklife-all': [{ SOCKLIFE_SPANS: 'all' }, [...SDK, ...SOCKLIFE]],
  'sdk+socklife-nostacks': [{ SOCKLIFE_CAPTURE_STACKS: 'false' }, [...SDK, ...SOCKLIFE]],
  'sdk+net+stacks': [{}, [...SDK, ...NET_INSTRUMENTATION, ...STACK_CAPTURE]],
};

const figure = new Figure('3-client-churn', 'client connection churn: socklife vs @opentelemetry/instrumentation-net, same SDK');

await runFigure(figure, async () => {
  const rounds = Math.max(5, knob('ROUNDS', 5));
  const ms = knob('SECONDS', 2) * 1000;
  const warmupMs = knob('WARMUP_SECONDS', 1) * 1000;
  const concurrency = knob('CHURN_CONCURRENCY', 16);
  figure.note(
    'load',
    `each measured client keeps ${concurrency} connections in flight (connect, read the server's reply, close) for ${ms} ms after ${warmupMs} ms of warm-up, pinned to CPU 0; its server in a separate process on CPU 1; one client and one server at a time, fresh, in their own network namespace; ${rounds} rounds`,
  );
  const results = await alternate({
    variants: Object.keys(VARIANTS),
    reps: rounds,
    async run(variant) {
      const [env, nodeArgs] = VARIANTS[variant];
      const server = new NodeChild('churn-server.cjs', { cpu: 1, netns: 'new', label: 'churn-server' });
      let client;
      try {
        const { port } = await server.waitForType('ready', 30_000);
        client = new NodeChild('churn-client.cjs', {
          nodeArgs,
          env,
          args: [port, concurrency].map(String),
          cpu: 0,
          profile: true,
          label: `churn-${variant}`,
          netns: server,
        });
        await client.waitForType('ready', 30_000);
        await client.request({ cmd: 'burst', ms: warmupMs });
        return await client.request({ cmd: 'burst', ms });
      } finally {
        await client?.stop();
        await server.stop();
      }
    },
    log(variant, round, r) {
      if (process.env.BENCH_VERBOSE !== '1' && round !== 0) return;
      console.log(
        `    round ${round + 1} ${variant.padEnd(22)} ${fmt(r.rate).padStart(6)} conn/s  ${fmt(r.cpuUsPerConnection)} µs CPU/conn${r.errors ? `  errors ${r.errors}` : ''}`,
      );
    },
  });
  const rate = (v) => median(results[v].map((r) => r.rate));
  const cpu = (v) => median(results[v].map((r) => r.cpuUsPerConnection));
  for (const v of Object.keys(VARIANTS)) console.log(`    median ${v.padEnd(22)} ${fmt(rate(v)).padStart(6)} conn/s  ${fmt(cpu(v))} µs CPU/conn`);
  const over = (v) => `${fmt(cpu(v) - cpu('sdk'))} µs`;
  const c = pairedRatio(results['sdk+socklife'], results['sdk+net'], (r) => r.cpuUsPerConnection);
  figure.check({
    figure: '3',
    what: 'client CPU per connection, SDK+socklife (default policy, creation stacks on) / SDK+instrumentation-net (socklife costs less)',
    budget: '< 1.00',
    measured: c.ratio.toFixed(3),
    pass: c.ratio < 1,
    detail:
      `median of ${c.ratios.length} per-round ratios, middle half ${quartiles(c.ratios)}; client CPU per connection: SDK alone ${fmt(cpu('sdk'))} µs, +instrumentation-net ${over('sdk+net')}, +socklife ${over('sdk+socklife')} (spans: all ${over('sdk+socklife-all')}; stacks off ${over('sdk+socklife-nostacks')}); ` +
      `connections/s ratio ${pairedRatio(results['sdk+socklife'], results['sdk+net'], (r) => r.rate).ratio.toFixed(3)}; medians ${fmt(rate('sdk+socklife'))} / ${fmt(rate('sdk+net'))} / ${fmt(rate('sdk'))} (SDK only) / ${fmt(rate('bare'))} (bare) conn/s`,
  });
  const all = pairedRatio(results['sdk+socklife-all'], results['sdk+net'], (r) => r.cpuUsPerConnection);
  figure.stated(
    '3',
    'client CPU per connection, SDK+socklife with spans: all (tcp.connection, tcp.handshake, tcp.half_close) / SDK+instrumentation-net',
    all.ratio.toFixed(3),
    `+${over('sdk+socklife-all')} over the SDK alone; instrumentation-net +${over('sdk+net')}`,
  );
  const ns = pairedRatio(results['sdk+socklife-nostacks'], results['sdk+net'], (r) => r.cpuUsPerConnection);
  figure.stated(
    '3',
    'client CPU per connection, default policy with captureStacks: false / SDK+instrumentation-net',
    ns.ratio.toFixed(3),
    `+${over('sdk+socklife-nostacks')} over the SDK alone (stacks on: +${over('sdk+socklife')})`,
  );
  const withStacks = pairedRatio(results['sdk+socklife'], results['sdk+net+stacks'], (r) => r.cpuUsPerConnection);
  figure.stated(
    '3',
    'client CPU per connection, SDK+socklife (default policy, creation stacks on) / SDK+instrumentation-net with the same stack captured (nothing kept)',
    withStacks.ratio.toFixed(3),
    `the stack capture alone: +${fmt(cpu('sdk+net+stacks') - cpu('sdk+net'))} µs per connection over instrumentation-net`,
  );
  figure.note('runs', Object.fromEntries(Object.entries(results).map(([v, rs]) => [v, { rate: rate(v), cpuUsPerConnection: cpu(v), bursts: rs }])));
});
