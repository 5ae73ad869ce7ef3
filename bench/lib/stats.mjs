export function median(values) {
  return quantile(values, 0.5);
}

/** Linear-interpolated quantile, q in [0, 1]. */
export function quantile(values, q) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}

export function mean(values) {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function max(values) {
  return values.reduce((a, b) => Math.max(a, b), -Infinity);
}

/** A number with `digits` significant decimals, without trailing noise. */
export function fmt(value, digits = 3) {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 1000) return `${fmt(ms / 1000)} s`;
  if (ms < 1) return `${fmt(ms * 1000)} µs`;
  return `${fmt(ms)} ms`;
}

export function fmtBytes(bytes) {
  if (Math.abs(bytes) >= 1024 * 1024) return `${fmt(bytes / 1024 / 1024)} MiB`;
  if (Math.abs(bytes) >= 1024) return `${fmt(bytes / 1024)} KiB`;
  return `${Math.round(bytes)} B`;
}

export function pct(ratio) {
  return `${(ratio * 100).toFixed(1)}%`;
}
