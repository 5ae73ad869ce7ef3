// Figure 2: HTTP keep-alive, few connections and many requests. socklife's cost is per
// connection, never per request, so requests/s must stay within 1%: ratio >= 0.99.
import { defaultsFor, GROUPS, httpRuns } from './lib/http-bench.mjs';
import { Figure, runFigure } from './lib/report.mjs';

const figure = new Figure('2-http-keepalive', 'HTTP keep-alive, few connections, many requests, load from wrk in a separate process');

await runFigure(figure, async () => {
  const o = defaultsFor(true);
  const noSdk = await httpRuns(figure, o, 'no SDK', GROUPS['no SDK']);
  const withSdk = await httpRuns(figure, o, 'SDK', GROUPS.SDK);
  const cases = [
    ['2a', noSdk, 'socklife', 'bare', 'no SDK: socklife / bare server'],
    ['2b', withSdk, 'sdk+socklife', 'sdk', 'real SDK: SDK+socklife / same server with the SDK only'],
  ];
  for (const [id, runs, instrumented, baseline, label] of cases) {
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
  const none = noSdk.compare('socklife-source-none', 'bare');
  figure.stated('2a', 'requests/s ratio, no SDK, socklife with source: none (no ss polls; execa never loaded) / bare server', none.rps.ratio.toFixed(3), noSdk.detail('socklife-source-none', 'bare'));
});
