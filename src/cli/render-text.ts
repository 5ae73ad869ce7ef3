import { ALL_TCP_STATES, TcpState } from '../tcp-states.js';
import { renderStateDiagram, stateLabel } from './diagram.js';
import type { DoctorReport, Finding, ProcessInfo, SocketEntry, SourceInfo } from './doctor-report.js';
import { formatDuration, formatEndpoint } from './doctor-text.js';
import type { StateCounts } from './scope.js';
import type { StatesReport } from './states.js';
import type { Style } from './style.js';
import { WIDTH, wrap } from './text.js';

/** Sockets listed per finding in text; --json lists all. */
export const SOCKETS_SHOWN = 20;

function targetTitle(pid: number | null, port: number | null, process: ProcessInfo | null): string {
  const name = process?.name ? ` (${process.name})` : '';
  if (pid !== null && port !== null) return `pid ${pid}${name}, its sockets on port ${port}`;
  if (pid !== null) return `pid ${pid}${name}`;
  if (port !== null) return `port ${port}: sockets whose local or peer port is ${port}, of any process`;
  return 'the whole network namespace';
}

function sourceLine(source: SourceInfo, process: ProcessInfo | null): string {
  const where = process?.netns ? ` (${process.netns})` : '';
  if (source.table === 'ss') return `read with ss in this network namespace${where}; ages from tcp_info`;
  return `read from /proc${where}; socket ages unknown`;
}

function bytes(n: number): string {
  return n === 1 ? '1 byte' : `${n} bytes`;
}

function socketNote(s: SocketEntry): string {
  const notes: string[] = [];
  if (s.attributedBy === 'listening_port') notes.push('no inode: on a listening port');
  else if (s.attributedBy === 'destination') notes.push('no inode: to a destination of the process');
  if (s.sendQ > 0 && s.state !== TcpState.Listen) notes.push(`${bytes(s.sendQ)} unacknowledged`);
  if (s.timer !== null && s.timer.retransmits > 0) notes.push(`${s.timer.retransmits} retransmissions`);
  return notes.join(', ');
}

function socketTable(sockets: readonly SocketEntry[], style: Style): string {
  const header = ['LOCAL', 'PEER', 'AGE', 'UNREAD', 'INODE'];
  const shown = sockets.slice(0, SOCKETS_SHOWN);
  const rows = shown.map((s) => [
    formatEndpoint(s.local),
    formatEndpoint(s.peer),
    s.durationMs === null ? 'unknown' : formatDuration(s.durationMs),
    bytes(s.unreadBytes),
    String(s.inode),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const format = (cells: readonly string[]): string => ('    ' + cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ')).trimEnd();
  const lines = [style.paint(format(header), 'dim')];
  rows.forEach((cells, i) => {
    const line = format(cells);
    const note = socketNote(shown[i] as SocketEntry);
    // A note that would run past the width goes on a line of its own under the socket.
    if (note === '') lines.push(line);
    else if (line.length + 2 + note.length <= WIDTH) lines.push(`${line}  ${note}`);
    else lines.push(line, `      ${note}`);
  });
  if (sockets.length > SOCKETS_SHOWN) lines.push(`    \u2026 and ${sockets.length - SOCKETS_SHOWN} more (--json lists them all)`);
  return lines.join('\n');
}

function findingBody(f: Finding, style: Style): string {
  switch (f.type) {
    case 'close_wait':
    case 'fin_wait_2':
    case 'fin_wait_1':
      return socketTable(f.sockets, style);
    case 'time_wait':
      return f.side === 'client'
        ? `    destination ${formatEndpoint(f.peer ?? { address: '?', port: 0 })}: ${f.count} in TIME_WAIT (threshold ${f.threshold})`
        : `    listening port ${f.localPort ?? '?'}: ${f.count} in TIME_WAIT (threshold ${f.threshold})`;
    case 'listen_queue':
      return `    ${formatEndpoint(f.local)}: accept queue ${f.acceptQueue} of ${f.backlog} (threshold ${Math.round(f.threshold * 100)} %)`;
  }
}

function countsLine(counts: StateCounts): string {
  const nonZero = ALL_TCP_STATES.filter((s) => counts[s] > 0).map((s) => `${stateLabel(s)} ${counts[s]}`);
  return nonZero.length === 0 ? 'none' : nonZero.join(', ');
}

function countersLine(report: { kernelCounters: DoctorReport['kernelCounters'] }, previous?: { kernelCounters: DoctorReport['kernelCounters'] }): string {
  const { listenOverflows, listenDrops } = report.kernelCounters;
  const delta = (now: number | null, before: number | null | undefined): string =>
    now === null ? 'unknown' : before === null || before === undefined ? String(now) : `${now} (+${Math.max(0, now - before)})`;
  return (
    `ListenOverflows ${delta(listenOverflows, previous?.kernelCounters.listenOverflows)}, ` +
    `ListenDrops ${delta(listenDrops, previous?.kernelCounters.listenDrops)}: all listeners of the network namespace, since it was created`
  );
}

export function renderDoctorText(report: DoctorReport, style: Style): string {
  const out: string[] = [];
  const total = Object.values(report.counts).reduce((a, b) => a + b, 0);
  out.push(style.paint(`socklife doctor: ${targetTitle(report.pid, report.port, report.process)}`, 'bold'));
  out.push(wrap(`${total} TCP ${total === 1 ? 'socket' : 'sockets'}, ${sourceLine(report.source, report.process)}`, '    ', '  '));
  for (const note of report.source.notes) out.push(wrap(note, '        ', '  note: '));
  out.push('');

  for (const f of report.findings) {
    out.push(style.paint(wrap(f.summary, '  ', '\u2717 '), 'bold', 'red'));
    out.push(findingBody(f, style));
    out.push(wrap(f.meaning, '    ', '  What it means: '));
    out.push(wrap(f.advice, '    ', '  What to do: '));
    out.push('');
  }

  if (report.listeners.length > 0) {
    out.push(style.paint('Listeners', 'bold'));
    for (const l of report.listeners) {
      const backlog = l.backlog === null ? 'of an unknown limit' : `of ${l.backlog}`;
      out.push(`  ${formatEndpoint(l.local).padEnd(24)} accept queue ${l.acceptQueue} ${backlog}, SYN_RECEIVED ${l.synReceived}`);
    }
    out.push(wrap(countersLine(report), '    ', '  '));
    out.push('');
  }

  const tw = report.timeWait;
  if (tw.total > 0 || (tw.unattributed !== null && tw.unattributed.total > 0)) {
    out.push(style.paint('TIME_WAIT', 'bold'));
    const range = report.portRange === null ? '' : ` of the ephemeral ports ${report.portRange.low}-${report.portRange.high}`;
    for (const g of tw.serverSide.slice(0, 5)) out.push(`  ${g.count} on listening port ${g.localPort} (server side)`);
    for (const d of tw.clientSide.slice(0, 5)) {
      const share = d.fractionOfPortRange === null ? '' : `, ${(d.fractionOfPortRange * 100).toFixed(1)} %${range}`;
      out.push(`  ${d.count} to ${formatEndpoint(d.peer)} (client side${share})`);
    }
    if (tw.total > 0) out.push(wrap(tw.attribution, '    ', '  '));
    if (tw.unattributed !== null && tw.unattributed.total > 0) {
      const top = tw.unattributed.topDestinations.map((d) => `${formatEndpoint(d.peer)} \u00d7${d.count}`).join(', ');
      out.push(
        wrap(
          `Not tied to pid ${report.pid}: ${tw.unattributed.total} more in this network namespace (busiest: ${top}); --port P looks at one of them.`,
          '    ',
          '  ',
        ),
      );
    }
    out.push('');
  }

  out.push(wrap(`Sockets by state: ${countsLine(report.counts)}`, '  ', ''));
  const attributed = ALL_TCP_STATES.filter((s) => (report.attributed[s] ?? 0) > 0).map((s) => `${stateLabel(s)} ${report.attributed[s]}`);
  if (attributed.length > 0) out.push(wrap(`of which without inode, tied by listening port or destination: ${attributed.join(', ')}`, '    ', '  '));
  const n = report.findings.length;
  out.push(
    n === 0
      ? style.paint('No findings (exit code 0).', 'bold', 'green')
      : style.paint(`${n} ${n === 1 ? 'finding' : 'findings'} (exit code 1).`, 'bold', 'red'),
  );
  return out.join('\n') + '\n';
}

/** One frame of `states` / `watch`: a title, the diagram, what is highlighted and why, where the numbers come from. */
export function renderStatesText(report: StatesReport, style: Style, previous?: StatesReport): string {
  const out: string[] = [];
  const time = report.time.slice(11, 19);
  out.push(style.paint(`socklife states: ${targetTitle(report.pid, report.port, report.process)}`, 'bold') + `  ${report.total} sockets  ${time} UTC`);
  out.push('');
  const highlights = new Map(report.highlighted.map((s) => [s, s === TcpState.CloseWait ? ('alarm' as const) : ('warn' as const)]));
  out.push(renderStateDiagram(report.counts, { color: style.color, highlights }));
  out.push('');
  const doctor = report.pid !== null ? `--pid ${report.pid}` : report.port !== null ? `--port ${report.port}` : '--port P';
  for (const state of report.highlighted) {
    const line =
      state === TcpState.CloseWait
        ? `CLOSE_WAIT ${report.counts.close_wait}: peers closed and the application did not; socklife doctor ${doctor} shows which and for how long.`
        : `TIME_WAIT ${report.counts.time_wait} (threshold ${report.timeWaitThreshold}): the side that closes first holds TIME_WAIT for 60 s; socklife doctor ${doctor} shows towards where.`;
    out.push(style.paint(wrap(line, '  ', '! '), 'bold', state === TcpState.CloseWait ? 'red' : 'yellow'));
  }
  const attributed = ALL_TCP_STATES.filter((s) => (report.attributed[s] ?? 0) > 0).map((s) => `${stateLabel(s)} ${report.attributed[s]}`);
  if (attributed.length > 0) out.push(wrap(`Without inode, tied to the process by listening port or destination: ${attributed.join(', ')}.`, '  ', '  '));
  if (report.unattributedTimeWait !== null && report.unattributedTimeWait > 0) {
    out.push(wrap(`Not counted: ${report.unattributedTimeWait} TIME_WAIT in this network namespace not tied to pid ${report.pid}.`, '  ', '  '));
  }
  out.push(wrap(countersLine(report, previous), '  ', '  '));
  return out.join('\n') + '\n';
}
