// The measured process of figures 3 and 8: on each 'burst' command, opens and closes client
// connections as fast as it can, `concurrency` at a time, for `ms`, and reports how many
// completed and the CPU time they took; on 'connections', exactly `n` of them (figure 8
// counts the instructions they took). Instrumentation (SDK, socklife,
// @opentelemetry/instrumentation-net) comes from preload flags.
'use strict';
const net = require('node:net');
const { send, serve, run, cpuTimes } = require('./ipc.cjs');

function burst(port, concurrency, ms) {
  return new Promise((resolve) => {
    let completed = 0;
    let errors = 0;
    let running = concurrency;
    let open = true;
    const cpu0 = cpuTimes();
    const t0 = performance.now();
    const one = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => errors++);
      socket.on('close', () => {
        if (open) {
          completed++;
          one();
        } else if (--running === 0) {
          const cpu = cpuTimes();
          const n = completed + concurrency;
          const childrenUs = cpu.childrenUs - cpu0.childrenUs;
          resolve({
            rate: (completed / elapsed) * 1000,
            completed,
            errors,
            cpuUsPerConnection: (cpu.ownUs - cpu0.ownUs + childrenUs) / n,
            childCpuUsPerConnection: childrenUs / n,
          });
        }
      });
      socket.resume();
    };
    let elapsed = 0;
    setTimeout(() => {
      open = false;
      elapsed = performance.now() - t0;
    }, ms);
    for (let i = 0; i < concurrency; i++) one();
  });
}

/** Exactly `n` connections, `concurrency` at a time. */
function connections(port, concurrency, n) {
  return new Promise((resolve) => {
    let made = 0;
    let open = 0;
    let errors = 0;
    const one = () => {
      made++;
      open++;
      const socket = net.connect(port, '127.0.0.1');
      socket.on('error', () => errors++);
      socket.on('close', () => {
        open--;
        if (made < n) one();
        else if (open === 0) resolve({ completed: n - errors, errors });
      });
      socket.resume();
    };
    for (let i = 0; i < Math.min(concurrency, n); i++) one();
  });
}

run(async () => {
  const [port, concurrency] = process.argv.slice(2).map(Number);
  serve({
    burst: ({ ms }) => burst(port, concurrency, ms),
    connections: ({ n }) => connections(port, concurrency, n),
    async spans() {
      return { spans: globalThis.__benchSdk ? (await globalThis.__benchSdk.flush()).byName : undefined };
    },
  });
  send({ type: 'ready' });
});
