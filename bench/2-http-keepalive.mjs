// Figure 2: HTTP keep-alive, few connections and many requests. socklife's cost is per
// connection, never per request: server CPU per request within 1% of the baseline, with and
// without an SDK (requests/s stated beside it). 2c: following the requests on each connection
// costs a few field writes per request: within 1% of the same run without it.
import { defaultsFor, httpRuns } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';

const figure = new Figure('2-http-keepalive', 'HTTP keep-alive, few connections, many requests, load from wrk in a separate process');

await runFigure(figure, async () => {
  const o = defaultsFor(true);
  const runs = await httpRuns(figure, o, ['bare', 'bare-control', 'socklife', 'socklife-no-requests', 'sdk', 'sdk+socklife']);
  const cases = [
    ['2a', 'socklife', 'bare', 'no SDK: socklife / bare server'],
    ['2b', 'sdk+socklife', 'sdk', 'real SDK, default span policy: SDK+socklife / same server with the SDK only'],
    ['2c', 'socklife', 'socklife-no-requests', 'following requests: socklife / socklife without request following'],
  ];
  for (const [id, instrumented, baseline, label] of cases) {
    const c = runs.compare(instrumented, baseline);
    figure.check({
      figure: id,
      what: `server CPU per request, ${label}`,
      budget: '<= 1.01',
      measured: c.cpu.ratio.toFixed(3),
      pass: c.cpu.ratio <= 1.01 && c.errors === 0,
      detail: runs.detail(instrumented, baseline),
    });
    figure.stated(id, `requests/s ratio, ${label}`, c.rps.ratio.toFixed(3));
  }
  const control = runs.compare('bare-control', 'bare');
  figure.stated(
    '2',
    "server CPU per request, A/A control: bare / bare (this machine's noise)",
    control.cpu.ratio.toFixed(3),
    `middle half of the per-round ratios ${(await import('./lib/http-bench.mjs')).quartiles(control.cpu.ratios)}`,
  );
});
