// HTTP load from a separate process: wrk (Debian package `wrk`), pinned to its own CPU.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function hasWrk() {
  try {
    await execFileAsync('wrk', ['--version']);
    return true;
  } catch (error) {
    // wrk --version prints its banner and exits 1.
    return error?.code !== 'ENOENT' && /wrk/.test(String(error?.stdout ?? '') + String(error?.stderr ?? ''));
  }
}

function toMs(value, unit) {
  const n = Number(value);
  switch (unit) {
    case 'us':
      return n / 1000;
    case 'ms':
      return n;
    case 's':
      return n * 1000;
    case 'm':
      return n * 60_000;
    default:
      return NaN;
  }
}

/** Parses wrk's `--latency` report. */
export function parseWrk(text) {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(text)?.[1]);
  const latency = {};
  for (const m of text.matchAll(/^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$/gm)) latency[`p${m[1]}`] = toMs(m[2], m[3]);
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    rps,
    requests,
    p50: latency.p50,
    p99: latency.p99,
    errors: errors ? { connect: +errors[1], read: +errors[2], write: +errors[3], timeout: +errors[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
    non2xx,
  };
}

/**
 * `prefix`: a command wrk runs under (nsenter into the server's network namespace).
 * @param {{ url: string, connections: number, seconds: number, threads?: number, headers?: string[], cpu?: number|string, prefix?: string[] }} o
 */
export async function runWrk(o) {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency'];
  for (const h of o.headers ?? []) args.push('-H', h);
  args.push(o.url);
  const full = [...(o.prefix ?? []), ...(o.cpu === undefined ? [] : ['taskset', '-c', String(o.cpu)]), 'wrk', ...args];
  const [cmd, argv] = [full[0], full.slice(1)];
  const { stdout } = await execFileAsync(cmd, argv, { maxBuffer: 1 << 20, timeout: (o.seconds + 30) * 1000 });
  const result = parseWrk(stdout);
  if (!Number.isFinite(result.rps)) throw new Error(`could not read wrk's output:\n${stdout}`);
  return result;
}
