// The child side of bench/lib/child.mjs: messages to the orchestrator, commands from it.
'use strict';

function send(message) {
  if (process.send) process.send(message);
  else console.log(JSON.stringify(message));
}

/**
 * Handles commands from the orchestrator. `handlers[cmd](message)` may return a value or a
 * promise; the reply carries the command's id. 'stop' calls `onStop` (if given) and exits.
 */
function serve(handlers, onStop) {
  process.on('message', async (message) => {
    if (message?.cmd === 'stop') {
      try {
        if (onStop) await onStop();
      } finally {
        process.exit(0);
      }
      return;
    }
    const handler = handlers[message?.cmd];
    if (handler === undefined) {
      send({ id: message?.id, type: 'error', message: `unknown command ${message?.cmd}` });
      return;
    }
    try {
      const result = await handler(message);
      send({ id: message.id, type: 'reply', ...result });
    } catch (error) {
      send({ id: message.id, type: 'error', message: String(error?.stack ?? error) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

/** Runs `main`, reporting a failure to the orchestrator instead of dying silently. */
function run(main) {
  Promise.resolve()
    .then(main)
    .catch((error) => {
      send({ type: 'error', message: String(error?.stack ?? error) });
      setTimeout(() => process.exit(1), 100);
    });
}

/** Raises nothing: reports the file limit, so a benchmark can size itself to it. */
function fileLimit() {
  const text = require('node:fs').readFileSync('/proc/self/limits', 'utf8');
  const m = /Max open files\s+(\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * CPU time of this process and of its children that have exited (the ss runs of socklife's
 * polls), in microseconds: /proc/self/stat utime, stime, cutime, cstime.
 */
function cpuTimes() {
  const own = process.cpuUsage();
  let childrenUs = 0;
  try {
    const stat = require('node:fs').readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 16 and 17 of stat(5) (cutime, cstime) are at 13 and 14 after the command name, in clock ticks.
    childrenUs = ((Number(fields[13]) + Number(fields[14])) * 1e6) / CLOCK_TICKS;
  } catch {
    // No /proc: children's CPU stays 0.
  }
  return { ownUs: own.user + own.system, childrenUs };
}
const CLOCK_TICKS = (() => {
  try {
    return Number(require('node:child_process').execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

module.exports = { send, serve, run, fileLimit, cpuTimes };
