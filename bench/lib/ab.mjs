// Interleaved runs. The machine is shared and noisy in bursts, and two identical Node
// processes can differ by a percent or two, so every variant runs in several long-lived
// processes ("instances") at once, and the load alternates between them in short bursts:
// cycle i loads instance i mod K of every variant, in an order rotated per cycle. Each
// comparison is the median of the per-cycle ratios (two bursts seconds apart, on instances
// with the same index).
import { median } from './stats.mjs';

/**
 * @template I, R
 * @param {{
 *   variants: string[],
 *   instances: number,
 *   cycles: number,
 *   start: (variant: string, k: number) => Promise<I>,
 *   burst: (instance: I, variant: string, cycle: number) => Promise<R>,
 *   stop: (instance: I) => Promise<void>,
 *   log?: (variant: string, cycle: number, r: R) => void,
 * }} o
 * @returns {Promise<Record<string, R[]>>} results per variant, indexed by cycle
 */
export async function interleave(o) {
  const instances = Object.fromEntries(o.variants.map((v) => [v, []]));
  try {
    for (let k = 0; k < o.instances; k++) {
      for (const v of o.variants) instances[v].push(await o.start(v, k));
    }
    const results = Object.fromEntries(o.variants.map((v) => [v, []]));
    for (let cycle = 0; cycle < o.cycles; cycle++) {
      const order = o.variants.map((_, i) => o.variants[(i + cycle) % o.variants.length]);
      if (cycle % 2 === 1) order.reverse();
      for (const v of order) {
        const r = await o.burst(instances[v][cycle % o.instances], v, cycle);
        results[v][cycle] = r;
        o.log?.(v, cycle, r);
      }
    }
    return results;
  } finally {
    await Promise.all(
      Object.values(instances)
        .flat()
        .map((i) => o.stop(i).catch(() => {})),
    );
  }
}

/** Median over cycles of `value(a[i]) / value(b[i])`. */
export function pairedRatio(a, b, value) {
  const ratios = a.map((ra, i) => value(ra) / value(b[i]));
  return { ratio: median(ratios), ratios };
}

/** An environment knob: BENCH_<NAME>, as a number, with a default. */
export function knob(name, fallback) {
  const raw = process.env[`BENCH_${name}`];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`BENCH_${name} must be a positive number; got ${raw}`);
  return n;
}

/** Runs `o.reps` repetitions of every variant in an order rotated per repetition (fresh processes each run). */
export async function alternate(o) {
  const results = Object.fromEntries(o.variants.map((v) => [v, []]));
  for (let rep = 0; rep < o.reps; rep++) {
    const order = o.variants.map((_, i) => o.variants[(i + rep) % o.variants.length]);
    for (const variant of order) {
      const r = await o.run(variant, rep);
      results[variant][rep] = r;
      o.log?.(variant, rep, r);
    }
  }
  return results;
}
