// Figure 6: detection latency, from the moment a socket enters CLOSE_WAIT (its peer's FIN
// went out, on loopback) to the end of its tcp.close_wait.leak span, across 100 leaks: half
// found by socket events (end_not_called), half only by the kernel poll (not_read_to_eof).
// The FINs are spread at random over a few poll intervals. Budget: every leak within
// closeWaitThresholdMs + 2 × pollIntervalMs.
import { knob } from './lib/ab.mjs';
import { NodeChild, SDK, SOCKLIFE, stopAll } from './lib/child.mjs';
import { Figure, runFigure } from './lib/report.mjs';
import { fmtMs, max, median, quantile } from './lib/stats.mjs';

const figure = new Figure('6-detection-latency', 'detection latency: socket enters CLOSE_WAIT → its leak span, 100 leaks');

await runFigure(figure, async () => {
  const thresholdMs = knob('THRESHOLD_MS', 2000);
  const pollMs = knob('DETECT_POLL_MS', 500);
  const leaks = knob('LEAKS', 100);
  const spreadMs = knob('SPREAD_MS', 3000);
  const perKind = Math.ceil(leaks / 2);
  const budget = thresholdMs + 2 * pollMs;
  figure.note('settings', { closeWaitThresholdMs: thresholdMs, pollIntervalMs: pollMs, leaks: perKind * 2, spreadMs });
  const server = new NodeChild('leak-server.cjs', {
    nodeArgs: [...SDK, ...SOCKLIFE],
    env: { BENCH_SPAN_HOOK: '1', SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: String(thresholdMs), SOCKLIFE_POLL_INTERVAL_MS: String(pollMs) },
    cpu: 0,
    profile: true,
    label: 'leak-server',
  });
  let client;
  try {
    const { ports } = await server.waitForType('ready', 30_000);
    client = new NodeChild('leak-client.cjs', { args: [JSON.stringify({ ports, perKind, spreadMs })], cpu: 1 });
    const { fins } = await client.waitForType('fins', 60_000);
    const found = new Map();
    const deadline = Date.now() + budget * 3 + 10_000;
    while (found.size < fins.length && Date.now() < deadline) {
      try {
        const leak = await server.waitForType('leak', Math.max(1, deadline - Date.now()));
        // By server and client port: a client port the kernel gave to one connection to each
        // server is two leaks.
        found.set(`${leak.localPort}/${leak.peerPort}`, leak);
      } catch {
        break;
      }
    }
    const expectedCause = { flowing: 'end_not_called', paused: 'not_read_to_eof' };
    const latencies = { flowing: [], paused: [] };
    let missing = 0;
    let wrongCause = 0;
    for (const fin of fins) {
      const leak = found.get(`${fin.serverPort}/${fin.localPort}`);
      if (leak === undefined) {
        missing++;
        continue;
      }
      if (leak.cause !== expectedCause[fin.kind]) wrongCause++;
      latencies[fin.kind].push(leak.endedAt - fin.finAt);
    }
    const all = [...latencies.flowing, ...latencies.paused];
    const worst = max(all);
    const describe = (v) => `p50 ${fmtMs(median(v))}, p95 ${fmtMs(quantile(v, 0.95))}, max ${fmtMs(max(v))}`;
    figure.check({
      figure: '6',
      what: `worst detection latency over ${fins.length} leaks (threshold ${fmtMs(thresholdMs)}, poll every ${fmtMs(pollMs)})`,
      budget: `<= threshold + 2 × poll = ${fmtMs(budget)}`,
      measured: fmtMs(worst),
      pass: missing === 0 && wrongCause === 0 && worst <= budget,
      detail: `found ${found.size}/${fins.length}${missing ? `, ${missing} MISSING` : ''}${wrongCause ? `, ${wrongCause} with the wrong cause` : ''}; end_not_called (socket events): ${describe(latencies.flowing)}; not_read_to_eof (kernel poll): ${describe(latencies.paused)}; latency beyond the threshold: max ${fmtMs(worst - thresholdMs)}`,
    });
    figure.note('latencies', latencies);
  } finally {
    await stopAll([client, server]);
  }
});
