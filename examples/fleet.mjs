// Prometheus alerts over three instrumented processes.
//
//   node examples/fleet.mjs
//
// Starts three processes of examples/fleet-process.mjs under the socklife drop-in, each
// serving its metrics through @opentelemetry/exporter-prometheus: one leaks CLOSE_WAIT, one
// piles up TIME_WAIT, one is clean. Then a Prometheus server (the `prometheus` command; Debian:
// apt-get install prometheus) that scrapes them every second and evaluates
// deploy/prometheus/socklife.rules.yml, in a temporary directory. It prints the alerts that
// fire, stops everything it started and exits: 0 once the leak and TIME_WAIT alerts fired,
// 1 if they did not within a minute.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const RULES = fileURLToPath(new URL('../deploy/prometheus/socklife.rules.yml', import.meta.url));
const PROCESS = fileURLToPath(new URL('./fleet-process.mjs', import.meta.url));
const ENV = { SOCKLIFE_CLOSE_WAIT_THRESHOLD_MS: '1000', SOCKLIFE_POLL_INTERVAL_MS: '200', SOCKLIFE_TIME_WAIT_THRESHOLD: '200' };

if (spawnSync('prometheus', ['--version']).error !== undefined) {
  console.error('prometheus is not on PATH (Debian: apt-get install prometheus)');
  process.exit(1);
}
if (!existsSync(RULES)) {
  console.error(`no ${RULES}: run this example from a clone of the socklife repository`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), 'socklife-fleet-'));
const children = [];

async function stopAll() {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}

/** Starts a child; resolves with its first line on stdout. */
async function start(argv, env, what) {
  const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const [line] = await Promise.race([once(lines, 'line'), once(child, 'exit').then(([code]) => Promise.reject(new Error(`${what} exited with ${code}`)))]);
  return line;
}

async function freePort() {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

/** GET url: its status code and its body parsed as JSON (null when it is not JSON). */
function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => {
          let json = null;
          try {
            json = JSON.parse(body);
          } catch {
            // not JSON (/-/ready answers in words)
          }
          resolve({ status: res.statusCode, json });
        });
      })
      .on('timeout', function () {
        this.destroy(new Error(`GET ${url}: no answer within 5 s`));
      })
      .on('error', reject);
  });
}

/** Calls check() every 250 ms until it returns something, or until the deadline. */
async function poll(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

let ok = false;
try {
  const roleOf = {};
  for (const role of ['leak', 'timewait', 'clean']) {
    const line = await start([process.execPath, '--import', 'socklife/register', PROCESS, role], ENV, `fleet-process.mjs ${role}`);
    roleOf[JSON.parse(line).metrics] = role;
    console.log(`[fleet] ${role.padEnd(8)} metrics on http://${JSON.parse(line).metrics}/metrics`);
  }

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      `  - { job_name: socklife-fleet, static_configs: [{ targets: ${JSON.stringify(Object.keys(roleOf))} }] }`,
      '',
    ].join('\n'),
  );
  const prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: 'ignore',
  });
  children.push(prometheus);
  if ((await poll(async () => ((await get(`${url}/-/ready`)).status === 200 ? true : undefined), 30_000)) === undefined) {
    throw new Error(`prometheus did not get ready on ${url}`);
  }
  console.log(`[fleet] prometheus on ${url}, scraping every second with deploy/prometheus/socklife.rules.yml`);

  const firing = async () => {
    const { json } = await get(`${url}/api/v1/alerts`);
    return json.data.alerts.filter((a) => a.state === 'firing');
  };
  const fired = (alerts, name, role) => alerts.some((a) => a.labels.alertname === name && roleOf[a.labels.instance] === role);
  const alerts = await poll(async () => {
    const now = await firing();
    return fired(now, 'SocklifeCloseWaitLeak', 'leak') && fired(now, 'SocklifeTimeWaitAccumulation', 'timewait') ? now : undefined;
  }, 60_000);
  ok = alerts !== undefined;
  const shown = alerts ?? (await firing());
  console.log(`\n[fleet] ${shown.length} alert(s) firing:`);
  for (const a of shown.sort((x, y) => x.labels.alertname.localeCompare(y.labels.alertname))) {
    const cause = a.labels.tcp_close_wait_cause === undefined ? '' : ` (${a.labels.tcp_close_wait_cause})`;
    console.log(`\n  ${a.labels.alertname}${cause} on ${roleOf[a.labels.instance] ?? a.labels.instance} (${a.labels.instance})`);
    console.log(`    ${a.annotations.summary}`);
    console.log(`    runbook: ${a.annotations.runbook_url}`);
  }
  const clean = shown.filter((a) => roleOf[a.labels.instance] === 'clean');
  console.log(`\n[fleet] alerts for the clean process: ${clean.length}`);
  if (!ok) console.log('[fleet] the leak and TIME_WAIT alerts did not both fire within a minute');
} catch (error) {
  console.error(`[fleet] ${error.message}`);
} finally {
  await stopAll();
  console.log('[fleet] stopped the three processes and prometheus');
}
process.exitCode = ok ? 0 : 1;
