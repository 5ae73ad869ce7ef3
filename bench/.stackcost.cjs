const net = require('node:net');
const { captureCreationStack } = require('../dist/cjs/observe/creation-stack.js');
function deep(n, f) { return n === 0 ? f() : deep(n - 1, f); }
const N = 50000;
for (const depth of [5, 20, 40]) {
  for (const limit of [10, 16, 32]) {
    const holder = {};
    const t = process.hrtime.bigint();
    const keep = [];
    deep(depth, () => { for (let i = 0; i < N; i++) { const h = {}; const l = Error.stackTraceLimit; Error.stackTraceLimit = limit; Error.captureStackTrace(h); Error.stackTraceLimit = l; keep.push(h); } });
    const dt = Number(process.hrtime.bigint() - t) / N / 1000;
    globalThis.gc?.(); const before = process.memoryUsage().heapUsed; keep.length = 0; globalThis.gc?.(); const after = process.memoryUsage().heapUsed;
    console.log(`depth ${depth} limit ${limit}: ${dt.toFixed(2)} µs, ${((before - after) / N).toFixed(0)} B each`);
  }
}
