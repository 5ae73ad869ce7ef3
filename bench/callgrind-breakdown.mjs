// Where figure 8's instructions go, per request: reads the callgrind output that
// `BENCH_CALLGRIND=<dir> BENCH_INSTR_NODE_ARGS=--perf-basic-prof node bench/8-instructions.mjs`
// keeps, takes each function's count in the N1 run from its count in the N2 run and divides by
// N2 - N1 (as figure 8 does with the totals), names JIT code from V8's perf map
// (/tmp/perf-<pid>.map, written under --perf-basic-prof) and sums the functions by kind
// (socklife's own JavaScript, Node's, the garbage collector, property access, hash tables...).
//
//   node bench/callgrind-breakdown.mjs <dir> <case> <n1> <n2> <variant> <variant>... [--top N]
//
// The first variant is the baseline: each kind's column after it is its count, and the last
// column the last variant's difference from the first. Needs valgrind's callgrind_annotate.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Kinds, first match wins: [name, test on the function's name]. */
const KINDS = [
  ['socklife JavaScript', (f) => f.startsWith('JS ') && f.includes('socklife')],
  ['other JavaScript (Node, the SDK, the program)', (f) => f.startsWith('JS ')],
  ['unnamed JIT code', (f) => f.startsWith('JIT ')],
  [
    'garbage collector',
    (f) => /Scaveng|Marking|Sweep|Heap::|Evacuat|MemoryChunk|Remembered|SlotSet|Promot|Pretenur|BodyDescriptor|SizeFromMap|MarkCompact|MinorMC/.test(f),
  ],
  ['property access (inline caches)', (f) => /Builtins_\w*(IC|Megamorphic|GetProperty|SetProperty|HasOwnProperty)/.test(f)],
  ['V8 runtime (property lookup, maps)', (f) => /LookupIterator|Runtime_|Object::|JSObject::|Map::|Transitions|DescriptorArray/.test(f)],
  ['Map, Set, WeakMap', (f) => /OrderedHash|MapPrototype|SetPrototype|WeakMap|WeakSet|FindOrdered/.test(f)],
  ['other builtins', (f) => f.includes('Builtins_')],
  ['libuv', (f) => /uv_|\/uv\//.test(f)],
  ['libc', (f) => /libc\.so|memmove|memcpy|memset|malloc|free/.test(f)],
  ['other native code', () => true],
];

/** V8's perf map: JIT code ranges by start address, sorted. */
function perfMap(pid) {
  let text;
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, 'utf8');
  } catch {
    return [];
  }
  const entries = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (m) entries.push({ start: parseInt(m[1], 16), size: parseInt(m[2], 16), name: m[3] });
  }
  return entries.sort((a, b) => a.start - b.start);
}

function nameAt(map, address) {
  let lo = 0;
  let hi = map.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (map[mid].start <= address) lo = mid + 1;
    else hi = mid - 1;
  }
  const entry = map[hi];
  return entry !== undefined && address < entry.start + entry.size ? `JS ${entry.name}` : 'JIT ?';
}

/** Each function's own instruction count in one callgrind output. */
function counts(file) {
  const header = readFileSync(file, 'utf8').slice(0, 4096);
  const pid = /^pid: (\d+)/m.exec(header)?.[1];
  const map = pid === undefined ? [] : perfMap(pid);
  const out = execFileSync('callgrind_annotate', ['--threshold=100', '--auto=no', file], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  const byName = new Map();
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*\S)\s*$/.exec(line);
    if (!m || !m[2].includes(':')) continue;
    let name = m[2];
    const jit = /^\?\?\?:0x([0-9a-f]+)/.exec(name);
    if (jit) name = nameAt(map, parseInt(jit[1], 16));
    byName.set(name, (byName.get(name) ?? 0) + Number(m[1].replaceAll(',', '')));
  }
  return byName;
}

/** Instructions per request (or connection) of each function: (N2 run − N1 run) / (N2 − N1). */
function perRequest(dir, kase, variant, n1, n2) {
  const file = (n) => join(dir, `callgrind.out.${kase}-${variant}-r1-n${n}`);
  const a = counts(file(n1));
  const b = counts(file(n2));
  const result = new Map();
  for (const name of new Set([...a.keys(), ...b.keys()])) result.set(name, ((b.get(name) ?? 0) - (a.get(name) ?? 0)) / (n2 - n1));
  return result;
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt === -1 ? 25 : Number(args.splice(topAt, 2)[1]);
const [dir, kase, n1, n2, ...variants] = args;
if (dir === undefined || kase === undefined || variants.length === 0) {
  console.error('usage: node bench/callgrind-breakdown.mjs <dir> <case> <n1> <n2> <variant> <variant>... [--top N]');
  process.exit(2);
}
const runs = variants.map((v) => perRequest(dir, kase, v, Number(n1), Number(n2)));
const kindOf = (name) => KINDS.find(([, test]) => test(name))[0];
const cell = (x) => x.toFixed(0).padStart(9);
const row = (label, values) => `${label.padEnd(48)}${values.map(cell).join('')}${cell(values.at(-1) - values[0])}`;

console.log(`${kase}: instructions per request, ${variants.join(' / ')}, and the last minus the first`);
console.log(
  row(
    'total',
    runs.map((r) => [...r.values()].reduce((s, x) => s + x, 0)),
  ),
);
const kinds = new Map(KINDS.map(([k]) => [k, runs.map(() => 0)]));
runs.forEach((r, i) => {
  for (const [name, x] of r) kinds.get(kindOf(name))[i] += x;
});
for (const [kind, values] of [...kinds].sort((a, b) => Math.abs(b[1].at(-1) - b[1][0]) - Math.abs(a[1].at(-1) - a[1][0]))) console.log(row(kind, values));
console.log(`\nthe ${top} functions that moved most:`);
const names = new Set(runs.flatMap((r) => [...r.keys()]));
const moved = [...names].map((n) => [n, runs.map((r) => r.get(n) ?? 0)]).sort((a, b) => Math.abs(b[1].at(-1) - b[1][0]) - Math.abs(a[1].at(-1) - a[1][0]));
for (const [name, values] of moved.slice(0, top)) console.log(row(name.slice(0, 47), values));
