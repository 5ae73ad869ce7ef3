import { VERSION } from '../version.js';
import { parseCommandLine, UsageError, type Invocation } from './args.js';
import { runDoctor, runStates, runWatch, type CliIo } from './commands.js';
import { commandHelp, TOP_LEVEL_HELP } from './help.js';
import { TargetError } from './process-sockets.js';

export type { CliIo } from './commands.js';

/** Exit codes, as documented: scripts and health checks branch on them. */
export const EXIT_HEALTHY = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_ERROR = 2;

/**
 * Runs one command line and returns its exit code: 0 healthy, 1 findings, 2 error. Errors
 * are written to stderr as one line that says what went wrong; nothing is thrown.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    const help = error.command === undefined ? 'socklife --help' : `socklife ${error.command} --help`;
    io.stderr.write(`${error.message}\n(${help} lists the options)\n`);
    return EXIT_ERROR;
  }
  try {
    switch (invocation.kind) {
      case 'help':
        io.stdout.write(invocation.command === undefined ? TOP_LEVEL_HELP : commandHelp(invocation.command));
        return EXIT_HEALTHY;
      case 'version':
        io.stdout.write(`${VERSION}\n`);
        return EXIT_HEALTHY;
      case 'doctor':
        return await runDoctor(invocation, io);
      case 'states':
        return await runStates(invocation, io);
      case 'watch':
        return await runWatch(invocation, io);
    }
  } catch (error) {
    const message = error instanceof TargetError ? error.message : `socklife ${invocation.kind}: ${error instanceof Error ? error.message : String(error)}`;
    io.stderr.write(`${message}\n`);
    return EXIT_ERROR;
  }
}
