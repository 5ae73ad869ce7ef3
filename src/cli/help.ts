import { allowedValues, COMMAND_OPTIONS, type CommandName, type OptionSpec } from './args.js';
import { wrap } from './text.js';

const EXIT_CODES = `Exit codes:
  0  healthy: doctor found nothing, states highlighted nothing, watch stopped
     (Ctrl-C, SIGTERM, --count)
  1  doctor has findings; states highlights a count (CLOSE_WAIT > 0, TIME_WAIT
     at or over the threshold)
  2  error: bad arguments, no such process, permission denied, a table that
     cannot be read`;

export const TOP_LEVEL_HELP = `socklife: what the TCP sockets of a running process are doing, read from the
kernel. Needs no instrumentation in the process. Linux: reads /proc, runs ss.

Usage:
  socklife doctor --pid N | --port P [options]
      CLOSE_WAIT leaks, peers that never close (FIN_WAIT_2), unacknowledged FINs
      (FIN_WAIT_1), TIME_WAIT pile-ups, full accept queues: what each means and
      what to do
  socklife states [--pid N | --port P] [--json]
      the TCP state diagram with the live count in every state
  socklife watch [--pid N | --port P] [--interval-ms MS] [--count K] [--json]
      the same diagram, redrawn every interval until Ctrl-C
  socklife <command> --help      options of a command
  socklife --version

${EXIT_CODES}
`;

const DESCRIPTIONS: Readonly<Record<CommandName, string>> = {
  doctor: `Usage: socklife doctor --pid N | --port P [options]

Examines the TCP sockets of a process (the socket inodes in /proc/N/fd, looked
up in the table of its own network namespace) or of a port, and reports:
  - CLOSE_WAIT: the peer closed, the process did not (age from tcp_info
    lastack, unread bytes, peer)
  - FIN_WAIT_2: the process closed, the peer never did (the peer's leak)
  - FIN_WAIT_1: the peer does not acknowledge the process's FIN
  - TIME_WAIT per destination, against the ephemeral port range, and per
    listening port
  - listeners: accept queue against backlog, SYN_RECEIVED, ListenOverflows
TIME_WAIT and SYN_RECEIVED sockets have no inode: they are tied to the process
by its listening ports and by the destinations of its connections, and the
report says which. Socket ages need ss in the process's network namespace; for
a process in another one (a container), run:
  nsenter --target N --net socklife doctor --pid N`,
  states: `Usage: socklife states [--pid N | --port P] [options]

Draws the TCP state diagram with the number of sockets in each of the 11
states, for a process, a port, or (with neither) the whole network namespace.
Zero counts are dim; CLOSE_WAIT > 0 and TIME_WAIT at or over the threshold are
highlighted: in colour on a terminal unless NO_COLOR is set, with a double
border otherwise. Reads /proc only: no child process.`,
  watch: `Usage: socklife watch [--pid N | --port P] [options]

Redraws the states diagram every --interval-ms (clearing the screen on a
terminal; on a pipe the frames follow each other), with the growth of
ListenOverflows/ListenDrops since the previous frame. Stops on Ctrl-C (SIGINT),
SIGTERM or after --count frames (exit code 0), or when the process exits (2).
With --pid, TIME_WAIT towards destinations seen in earlier frames stays tied to
the process.`,
};

const OPTION_COLUMN = 31;

function optionLine(spec: OptionSpec): string {
  const left = `  --${spec.name}${spec.placeholder === undefined ? '' : ` ${spec.placeholder}`}`;
  const parts = [spec.description];
  if (spec.rule !== undefined) parts.push(allowedValues(spec.rule, spec.name));
  if (spec.defaultValue !== undefined) parts.push(`default ${spec.defaultValue}`);
  return wrap(parts.join('; '), ' '.repeat(OPTION_COLUMN), left.padEnd(OPTION_COLUMN));
}

export function commandHelp(command: CommandName): string {
  const options = COMMAND_OPTIONS[command].map(optionLine).join('\n');
  return `${DESCRIPTIONS[command]}\n\nOptions:\n${options}\n\n${EXIT_CODES}\n`;
}
