// Figure 1: an HTTP server taking one connection per request (Connection: close): the cost
// socklife adds per connection. Budgets: requests/s ratio >= 0.97 without an SDK and
// >= 0.93 with the real SDK (BatchSpanProcessor, exporter that drops spans); p99 latency
// ratio <= 1.10 in both. With the SDK, the baseline is the same server with the same SDK
// (the SDK's own cost is not socklife's); the ratio against the bare server is stated too.
// The comparisons without and with an SDK run as separate groups of processes (GROUPS).
import { defaultsFor, GROUPS, httpRuns } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';

const figure = new Figure('1-http-close', 'HTTP server, one connection per request (Connection: close), load from wrk in a separate process');

await runFigure(figure, async () => {
  const o = defaultsFor(false);
  const noSdk = await httpRuns(figure, o, 'no SDK', [...GROUPS['no SDK'], 'socklife-poll-60s']);
  const withSdk = await httpRuns(figure, o, 'SDK', [...GROUPS.SDK, 'sdk+one-span']);
  const cases = [
    ['1a', noSdk, 'socklife', 'bare', 'no SDK: socklife / bare server', 0.97],
    ['1b', withSdk, 'sdk+socklife', 'sdk', 'real SDK (BatchSpanProcessor, dropping exporter): SDK+socklife / same server with the SDK only', 0.93],
  ];
  for (const [id, runs, instrumented, baseline, label, rpsBudget] of cases) {
    const c = runs.compare(instrumented, baseline);
    figure.check({
      figure: id,
      what: `requests/s ratio, ${label}`,
      budget: `>= ${rpsBudget}`,
      measured: c.rps.ratio.toFixed(3),
      pass: c.rps.ratio >= rpsBudget && c.errors === 0,
      detail: runs.detail(instrumented, baseline),
    });
    const control = runs.compare('bare-control', 'bare');
    figure.check({
      figure: id,
      what: `p99 latency ratio, ${label}`,
      budget: '<= 1.10',
      measured: c.p99.ratio.toFixed(3),
      pass: c.p99.ratio <= 1.1,
      detail: `median of ${c.p99.ratios.length} paired ratios; A/A control ${control.p99.ratio.toFixed(3)}`,
    });
  }
  const vsBare = withSdk.compare('sdk+socklife', 'bare');
  figure.stated('1b', "requests/s ratio, SDK+socklife / bare server without the SDK (the SDK's own cost included)", vsBare.rps.ratio.toFixed(3));
  const floor = withSdk.compare('sdk+one-span', 'sdk');
  figure.stated(
    '1b',
    'requests/s ratio, SDK + a minimal instrumentation making one empty span per connection / same server with the SDK only (the floor under any per-connection span)',
    floor.rps.ratio.toFixed(3),
    withSdk.detail('sdk+one-span', 'sdk'),
  );
  const rare = noSdk.compare('socklife-poll-60s', 'bare');
  figure.stated('1a', 'requests/s ratio, no SDK, socklife with pollIntervalMs: 60000 / bare server', rare.rps.ratio.toFixed(3), noSdk.detail('socklife-poll-60s', 'bare'));
  const none = noSdk.compare('socklife-source-none', 'bare');
  figure.stated('1a', 'requests/s ratio, no SDK, socklife with source: none (no ss polls; execa never loaded) / bare server', none.rps.ratio.toFixed(3), noSdk.detail('socklife-source-none', 'bare'));
});
