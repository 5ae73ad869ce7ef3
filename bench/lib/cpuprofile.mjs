// Reads a V8 .cpuprofile (node --cpu-prof; BENCH_CPU_PROF=<dir> for the measured processes)
// and prints where the time went: self time per function, and the inclusive time of every
// socklife function (dist/), so a missed budget points at the code responsible.
//
//   node bench/lib/cpuprofile.mjs <file.cpuprofile> [--top 25] [--filter dist/]
import { readFileSync } from 'node:fs';

export function analyse(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample time per node.
  const self = new Map();
  const deltas = profile.timeDeltas ?? [];
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0)));
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);
  const key = (n) => {
    const f = n.callFrame;
    const url = f.url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules|bench)\//, '$1/');
    return `${f.functionName || '(anonymous)'} ${url}${url ? `:${f.lineNumber + 1}` : ''}`;
  };
  const selfByKey = new Map();
  const inclusiveByKey = new Map();
  for (const [id, us] of self) {
    const node = byId.get(id);
    selfByKey.set(key(node), (selfByKey.get(key(node)) ?? 0) + us);
    // Inclusive: count each function once per sample stack.
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = key(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      inclusiveByKey.set(k, (inclusiveByKey.get(k) ?? 0) + us);
    }
  }
  return { totalUs, selfByKey, inclusiveByKey };
}

function table(map, totalUs, top, filter) {
  return [...map]
    .filter(([k]) => !filter || k.includes(filter))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(9)} ms ${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) {
  const file = process.argv[2];
  const top = Number(process.argv[process.argv.indexOf('--top') + 1]) || 25;
  const filterIdx = process.argv.indexOf('--filter');
  const filter = filterIdx === -1 ? 'dist/' : process.argv[filterIdx + 1];
  const { totalUs, selfByKey, inclusiveByKey } = analyse(JSON.parse(readFileSync(file, 'utf8')));
  console.log(`${file}: ${(totalUs / 1000).toFixed(0)} ms sampled`);
  console.log(`\nself time, top ${top}:\n${table(selfByKey, totalUs, top)}`);
  console.log(`\ninclusive time, functions matching '${filter}':\n${table(inclusiveByKey, totalUs, top, filter)}`);
}
