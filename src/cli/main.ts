#!/usr/bin/env node
// The `socklife` command. Everything but process wiring lives in cli.ts.
import { killRunningTools } from '../observe/kernel/run-tool.js';
import { runCli } from './cli.js';

const argv = process.argv.slice(2);
const controller = new AbortController();
const stop = (): void => controller.abort();
// Only watch runs until interrupted, and it ends cleanly before its next frame (exit code 0);
// every other command keeps Node's default: a signal ends it at once, and takes along the tool
// it may be running (`ss` runs in a process group of its own, which a terminal's signal misses).
const watching = argv[0] === 'watch';
const end = (signal: NodeJS.Signals): void => {
  killRunningTools();
  process.kill(process.pid, signal);
};
if (watching) {
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} else {
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
}
// `socklife watch | head`: a closed pipe ends the run quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
    for (const listener of [stop, end]) {
      process.off('SIGINT', listener);
      process.off('SIGTERM', listener);
    }
  },
  (error: unknown) => {
    process.stderr.write(`socklife: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
