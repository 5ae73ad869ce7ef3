import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { headingAnchors } from '../docs/links.js';
import { ROOT } from '../support/packed-project.js';
import { missingTool, skipWithReason } from '../support/requirements.js';
import { DASHBOARD_FILE, RULES_FILE, RULES_TEST_FILE, exportedMetricNames, keepaliveFindingType, readRules } from './deploy-files.js';

/**
 * The Prometheus rules in deploy/prometheus: promtool's own check and its unit tests
 * (socklife.rules.test.yml holds the edge cases: a counter that appears at its first finding,
 * a gauge that keeps its last value, a process that restarts), and what a person paged by an
 * alert reads: a summary and a runbook that exists.
 */

const skipPromtool = skipWithReason(missingTool('promtool', ['--version']));

describe.skipIf(skipPromtool)('promtool', () => {
  it('checks the rules', async () => {
    const result = await execa('promtool', ['check', 'rules', RULES_FILE], { reject: false, timeout: 20_000 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });

  it('passes the rules unit tests', async () => {
    // rule_files in the test file are relative to it.
    const result = await execa('promtool', ['test', 'rules', RULES_TEST_FILE], { reject: false, timeout: 20_000 });
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
  });
});

describe('the alerts', () => {
  const rules = readRules();
  const alerts = rules.filter((r) => r.alert !== undefined);

  it('cover each finding and socklife itself', () => {
    expect(alerts.map((a) => a.alert)).toEqual(
      expect.arrayContaining([
        'SocklifeCloseWaitLeak',
        'SocklifeCloseWaitGrowing',
        'SocklifeTimeWaitAccumulation',
        'SocklifeEphemeralPortsHigh',
        'SocklifeEphemeralPortsExhaustionForecast',
        'SocklifeListenOverflows',
        'SocklifeListenDrops',
        'SocklifeHalfCloseStuck',
        'SocklifeKeepAliveStaleReuse',
        'SocklifeKeepAliveRacePredicted',
        'SocklifeKeepAliveServerClosesFirst',
        'SocklifeTargetDown',
      ]),
    );
  });

  it('each say what to do and link a runbook section that exists (relative to the repository root)', () => {
    for (const alert of alerts) {
      const where = `${RULES_FILE}: ${alert.alert}`;
      expect((alert.annotations?.summary ?? '').length, `${where}: summary`).toBeGreaterThan(80);
      const url = alert.annotations?.runbook_url ?? '';
      const [path = '', anchor] = url.split('#');
      expect(existsSync(join(ROOT, path)) && path.endsWith('.md'), `${where}: runbook_url ${url}: no Markdown file ${path}`).toBe(true);
      expect(anchor, `${where}: runbook_url ${url} names no section`).toBeDefined();
      expect(headingAnchors(readFileSync(join(ROOT, path), 'utf8')).has(anchor ?? ''), `${where}: ${path} has no heading #${anchor}`).toBe(true);
    }
  });

  it('name the keep-alive finding type in one place, and the rules unit tests feed them that type', () => {
    const type = keepaliveFindingType();
    expect(readFileSync(RULES_FILE, 'utf8').split(`"${type}"`).length - 1, `${RULES_FILE}: "${type}"`).toBe(1);
    expect(readFileSync(RULES_TEST_FILE, 'utf8'), `${RULES_TEST_FILE}: a tcp_finding_count_total series of type "${type}"`).toContain(
      `tcp_finding_type="${type}"`,
    );
  });
});

describe('every metric socklife exports', () => {
  it('is read by the rules or the dashboard, or docs/fleet.md says why not', () => {
    const rulesText = readFileSync(RULES_FILE, 'utf8');
    const dashboardText = readFileSync(DASHBOARD_FILE, 'utf8');
    const fleetDoc = readFileSync(join(ROOT, 'docs', 'fleet.md'), 'utf8');
    const names = exportedMetricNames();
    expect(names.length, 'docs/telemetry.md lists no metric').toBeGreaterThan(10);
    for (const { instrument, series } of names) {
      const used = series.some((name) => new RegExp(`\\b${name}\\b`).test(rulesText) || new RegExp(`\\b${name}\\b`).test(dashboardText));
      expect(used || fleetDoc.includes(`\`${series[0]}\``), `${instrument} (${series.join(', ')})`).toBe(true);
    }
  });

  it('is parsed from docs/telemetry.md as the exporter names it', () => {
    const byInstrument = new Map(exportedMetricNames().map((m) => [m.instrument, m.series] as const));
    expect(byInstrument.get('tcp.finding.count')).toEqual(['tcp_finding_count_total']);
    expect(byInstrument.get('tcp.connection.count')).toEqual(['tcp_connection_count']);
    expect(byInstrument.get('tcp.connection.duration')).toEqual([
      'tcp_connection_duration_bucket',
      'tcp_connection_duration_sum',
      'tcp_connection_duration_count',
    ]);
    expect(parse(readFileSync(RULES_TEST_FILE, 'utf8'))).toHaveProperty('rule_files', ['socklife.rules.yml']);
  });
});
