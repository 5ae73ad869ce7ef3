// Figure 1: an HTTP server taking one connection per request (Connection: close): the cost
// socklife adds per connection, as the server's own CPU per request (primary) and requests/s
// (second), each a median over rounds of per-round ratios against a baseline of the same run.
//   1a  no SDK: socklife / bare server                                       <= 1.03
//   1b  SDK, default span policy (anomalies): SDK+socklife / SDK only       <= 1.05
//   1c  SDK, spans: all: SDK+socklife / SDK + one empty span per connection <= 1.30
// Stated: the findings policy, the one-span floor against the SDK alone, source: none, and the
// floors that bound the budgets from below: the least any socket-lifecycle observer costs
// (observer-floor / bare, against 1a) and the contract's two spans per connection
// (sdk+two-spans / sdk+one-span, against 1c), with socklife measured against each floor.
import { defaultsFor, httpRuns } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';

const figure = new Figure('1-http-close', 'HTTP server, one connection per request (Connection: close), load from wrk in a separate process');

await runFigure(figure, async () => {
  const o = defaultsFor(false);
  const runs = await httpRuns(figure, o, [
    'bare',
    'bare-control',
    'socklife',
    'socklife-source-none',
    'socklife-no-requests',
    'sdk',
    'sdk+socklife',
    'sdk+socklife-findings',
    'sdk+socklife-all',
    'sdk+one-span',
    'sdk+two-spans',
    'observer-floor',
  ]);
  const cases = [
    ['1a', 'socklife', 'bare', 'no SDK: socklife / bare server', 1.03],
    [
      '1b',
      'sdk+socklife',
      'sdk',
      'real SDK (BatchSpanProcessor, dropping exporter), default span policy (anomalies): SDK+socklife / same server with the SDK only',
      1.05,
    ],
    [
      '1c',
      'sdk+socklife-all',
      'sdk+one-span',
      'real SDK, spans: all (tcp.connection and tcp.half_close per connection, state events): SDK+socklife / SDK + one empty span per connection (the floor under any per-connection span)',
      1.3,
    ],
  ];
  for (const [id, instrumented, baseline, label, budget] of cases) {
    const c = runs.compare(instrumented, baseline);
    figure.check({
      figure: id,
      what: `server CPU per request, ${label}`,
      budget: `<= ${budget.toFixed(2)}`,
      measured: c.cpu.ratio.toFixed(3),
      pass: c.cpu.ratio <= budget && c.errors === 0,
      detail: runs.detail(instrumented, baseline),
    });
    figure.stated(id, `requests/s ratio, ${label}`, c.rps.ratio.toFixed(3));
  }
  const control = runs.compare('bare-control', 'bare');
  figure.stated(
    '1',
    "server CPU per request, A/A control: bare / bare (this machine's noise)",
    control.cpu.ratio.toFixed(3),
    `requests/s ${control.rps.ratio.toFixed(3)}`,
  );
  const stated = [
    ['1b', 'sdk+socklife-findings', 'sdk', 'server CPU per request, real SDK, spans: findings (spans only for findings): SDK+socklife / SDK only'],
    ['1c', 'sdk+one-span', 'sdk', 'server CPU per request, SDK + one empty span per connection / SDK only (what the SDK charges for one span a connection)'],
    ['1c', 'sdk+socklife-all', 'sdk', 'server CPU per request, real SDK, spans: all: SDK+socklife / SDK only'],
    ['1a', 'socklife-source-none', 'bare', 'server CPU per request, no SDK, socklife with source: none (no ss ever run) / bare server'],
    [
      '1a',
      'socklife',
      'socklife-no-requests',
      'server CPU per request, following requests (one per connection): socklife / socklife without request following',
    ],
    ['1b', 'sdk', 'bare', 'server CPU per request, the SDK alone (BatchSpanProcessor, AsyncLocalStorage context) / bare server'],
    [
      '1a',
      'observer-floor',
      'bare',
      'server CPU per request, the observer floor (every socket from diagnostics_channel, four timestamps from one emit wrapper; no SDK) / bare server',
    ],
    ['1a', 'socklife', 'observer-floor', 'server CPU per request, no SDK: socklife / the observer floor (what its model, detectors and kernel reads add)'],
    [
      '1c',
      'sdk+two-spans',
      'sdk+one-span',
      'server CPU per request, SDK + two empty spans per connection (parent and child, the span count of spans: all) / SDK + one empty span',
    ],
    ['1c', 'sdk+socklife-all', 'sdk+two-spans', 'server CPU per request, real SDK, spans: all / SDK + two empty spans per connection'],
  ];
  for (const [id, instrumented, baseline, what] of stated) {
    figure.stated(id, what, runs.compare(instrumented, baseline).cpu.ratio.toFixed(3), runs.detail(instrumented, baseline));
  }
  // What each span policy costs per connection with an SDK, in µs of server CPU (the medians' difference).
  const us = (v) => runs.summary[v].cpuUsPerRequest;
  figure.note('policyCostUsPerConnection', {
    findings: us('sdk+socklife-findings') - us('sdk'),
    anomalies: us('sdk+socklife') - us('sdk'),
    all: us('sdk+socklife-all') - us('sdk'),
    oneEmptySpan: us('sdk+one-span') - us('sdk'),
    twoEmptySpans: us('sdk+two-spans') - us('sdk'),
    observerFloorNoSdk: us('observer-floor') - us('bare'),
    noSdk: us('socklife') - us('bare'),
  });
});
