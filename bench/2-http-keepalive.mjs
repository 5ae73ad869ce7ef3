// Figure 2: HTTP keep-alive, few connections and many requests. socklife's cost is per
// connection, never per request, so requests/s must stay within 1%: ratio >= 0.99.
import { defaultsFor, httpRuns } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';

const figure = new Figure('2-http-keepalive', 'HTTP keep-alive, few connections, many requests, load from wrk in a separate process');

await runFigure(figure, async () => {
  const runs = await httpRuns(figure, defaultsFor(true));
  const cases = [
    ['2a', 'socklife', 'bare', 'no SDK: socklife / bare server'],
    ['2b', 'sdk+socklife', 'sdk', 'real SDK: SDK+socklife / same server with the SDK only'],
  ];
  for (const [id, instrumented, baseline, label] of cases) {
    const c = runs.compare(instrumented, baseline);
    figure.check({
      figure: id,
      what: `requests/s ratio, ${label}`,
      budget: '>= 0.99',
      measured: c.rps.ratio.toFixed(3),
      pass: c.rps.ratio >= 0.99 && c.errors === 0,
      detail: runs.detail(instrumented, baseline),
    });
  }
  const none = runs.compare('socklife-source-none', 'bare');
  figure.stated('2a', 'requests/s ratio, no SDK, socklife with source: none (no ss polls; execa never loaded) / bare server', none.rps.ratio.toFixed(3), runs.detail('socklife-source-none', 'bare'));
});
