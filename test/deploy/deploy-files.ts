import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../support/packed-project.js';

/** The files under deploy/, and what the tests read from them. */
export const DEPLOY = join(ROOT, 'deploy');
export const RULES_FILE = join(DEPLOY, 'prometheus', 'socklife.rules.yml');
export const RULES_TEST_FILE = join(DEPLOY, 'prometheus', 'socklife.rules.test.yml');
export const DASHBOARD_FILE = join(DEPLOY, 'grafana', 'socklife.json');

export interface Rule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function readRules(): Rule[] {
  const file = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> };
  return file.groups.flatMap((g) => g.rules);
}

/** The record that counts keep-alive findings; its selector holds the finding type (a value src/ decides). */
export const KEEPALIVE_RECORD = 'socklife:keepalive_stale_reuse:increase5m';

/** The `tcp.finding.type` value the rules read for the keep-alive finding. */
export function keepaliveFindingType(): string {
  const rule = readRules().find((r) => r.record === KEEPALIVE_RECORD);
  const value = /tcp_finding_type="([^"]+)"/.exec(rule?.expr ?? '')?.[1];
  if (value === undefined) throw new Error(`${RULES_FILE}: no record ${KEEPALIVE_RECORD} selecting a tcp_finding_type`);
  return value;
}

export interface ExportedMetric {
  /** The OpenTelemetry instrument name, as docs/telemetry.md lists it. */
  readonly instrument: string;
  /** The series names @opentelemetry/exporter-prometheus gives it. */
  readonly series: readonly string[];
}

/**
 * Every instrument in the metrics table of docs/telemetry.md, with the names
 * @opentelemetry/exporter-prometheus gives it: dots to underscores, `_total` for a counter
 * (monotonic), `_bucket`, `_sum`, `_count` for a histogram, the name alone for a gauge and an
 * up-down counter; no unit suffix. The live test (test/deploy/fleet.live.test.ts) holds these
 * to what the exporter serves.
 */
export function exportedMetricNames(): ExportedMetric[] {
  const text = readFileSync(join(ROOT, 'docs', 'telemetry.md'), 'utf8');
  const start = text.indexOf('\n## Metrics\n');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end === -1 ? undefined : end);
  const metrics: ExportedMetric[] = [];
  for (const [, instrument = '', kind = ''] of section.matchAll(/^\| `([a-z_.]+)` \| ([a-z -]+) \|/gm)) {
    const base = instrument.replace(/\./g, '_');
    const series =
      kind === 'histogram'
        ? [`${base}_bucket`, `${base}_sum`, `${base}_count`]
        : kind === 'counter' || kind === 'observable counter'
          ? [`${base}_total`]
          : [base];
    metrics.push({ instrument, series });
  }
  return metrics;
}
