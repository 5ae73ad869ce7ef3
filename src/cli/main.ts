#!/usr/bin/env node
// The `socklife` command. Everything but process wiring lives in cli.ts.
import { runCli } from './cli.js';

const argv = process.argv.slice(2);
const controller = new AbortController();
const stop = (): void => controller.abort();
// Only watch runs until interrupted, and it ends cleanly before its next frame (exit code 0);
// every other command keeps Node's default: a signal ends it at once.
const watching = argv[0] === 'watch';
if (watching) {
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
// `socklife watch | head`: a closed pipe ends the run quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal }).then(
  (code) => {
    process.exitCode = code;
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  },
  (error: unknown) => {
    process.stderr.write(`socklife: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
