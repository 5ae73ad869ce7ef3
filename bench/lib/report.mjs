// Each figure script prints its checks (figure, budget, measured, PASS/FAIL) as it goes and
// writes bench/results/<id>.json, from which bench/run.mjs builds the table.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

/** One line that says what ran the benchmark. */
export function machine() {
  const cpus = os.cpus();
  let distro = '';
  try {
    distro = /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? '';
  } catch {
    // No os-release: the distribution stays unnamed.
  }
  let ss = '';
  try {
    ss = execFileSync('ss', ['-V'], { encoding: 'utf8' })
      .trim()
      .replace(/^ss utility, /, '');
  } catch {
    // No ss: its version stays unnamed.
  }
  const cpu = (cpus[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  const memGiB = Math.round(os.totalmem() / 1024 ** 3);
  return `${cpus.length} × ${cpu}, ${memGiB} GiB, Linux ${os.release()}${distro ? ` (${distro})` : ''}, Node ${process.version}${ss ? `, ss ${ss}` : ''}`;
}

export class Figure {
  /**
   * @param {string} id file name stem, e.g. '1-http-close'
   * @param {string} title what the figure measures
   * @param {{ resultsDir?: string }} [options] where its result is written (bench/results/ unless a partial run puts it elsewhere)
   */
  constructor(id, title, { resultsDir = RESULTS } = {}) {
    this.id = id;
    this.resultsDir = resultsDir;
    this.title = title;
    this.checks = [];
    this.info = {};
    this.started = Date.now();
    console.log(`\n=== ${id}: ${title}`);
  }

  /**
   * Records and prints one budgeted figure.
   * @param {{ figure: string, what: string, budget: string, measured: string, pass: boolean, detail?: string }} check
   */
  check(check) {
    this.checks.push(check);
    const verdict = check.pass ? 'PASS' : 'FAIL';
    console.log(
      `  [${check.figure}] ${check.what}\n        budget ${check.budget}   measured ${check.measured}   ${verdict}` +
        (check.detail ? `\n        (${check.detail})` : ''),
    );
  }

  /** A figure stated without a budget. */
  stated(figure, what, measured, detail) {
    this.checks.push({ figure, what, budget: '(stated)', measured, pass: true, stated: true, detail });
    console.log(`  [${figure}] ${what}\n        measured ${measured}   (no budget)` + (detail ? `\n        (${detail})` : ''));
  }

  note(key, value) {
    this.info[key] = value;
  }

  write() {
    mkdirSync(this.resultsDir, { recursive: true });
    const result = {
      id: this.id,
      title: this.title,
      machine: machine(),
      node: process.version,
      privateNetworkNamespace: process.env.BENCH_NETNS_PRIVATE === '1',
      date: new Date().toISOString(),
      seconds: Math.round((Date.now() - this.started) / 1000),
      checks: this.checks,
      info: this.info,
    };
    const file = join(this.resultsDir, `${this.id}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
    if (this.resultsDir !== RESULTS) console.log(`=== ${this.id}: written to ${file}`);
    const failed = this.checks.filter((c) => !c.pass).length;
    console.log(`=== ${this.id}: ${failed === 0 ? 'every budget holds' : `${failed} budget(s) missed`} (${result.seconds} s)`);
    return failed;
  }
}

/** Runs a figure's main, writes its result even after a failure, exits non-zero when a budget is missed. */
export async function runFigure(figure, main) {
  let crashed = false;
  try {
    await main(figure);
  } catch (error) {
    crashed = true;
    console.error(error);
    figure.check({
      figure: figure.id.split('-')[0],
      what: 'the benchmark ran to the end',
      budget: 'no error',
      measured: String(error?.message ?? error).slice(0, 200),
      pass: false,
    });
  }
  const failed = figure.write();
  process.exitCode = crashed || failed > 0 ? 1 : 0;
}
