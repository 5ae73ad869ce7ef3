import { TcpState } from '../tcp-states.js';
import type { EndpointJson, FindingText } from './doctor-report.js';

/**
 * The words of `socklife doctor`: each finding's summary, meaning and advice, and how
 * durations and endpoints are written. Changes when the wording does, never the findings.
 */

/** The states a socket finding is about. */
export type SocketFindingState = typeof TcpState.CloseWait | typeof TcpState.FinWait2 | typeof TcpState.FinWait1;

/** `1.5 s`, `3 min 20 s`, `250 ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatEndpoint(e: EndpointJson): string {
  const host = e.address.includes(':') ? `[${e.address}]` : e.address;
  return `${host}:${e.port === 0 ? '*' : e.port}`;
}

/** Who holds the sockets, in a summary. */
export function holderOf(pid: number | undefined): string {
  return pid === undefined ? 'the process holding it' : `pid ${pid}`;
}

export function socketFindingText(state: SocketFindingState, count: number, holder: string, agesKnown: boolean, thresholdMs: number): FindingText {
  const age = !agesKnown ? '(age unknown)' : thresholdMs > 0 ? `for at least ${formatDuration(thresholdMs)}` : '(any age)';
  const sockets = plural(count, 'socket');
  switch (state) {
    case TcpState.CloseWait:
      return {
        summary: `${sockets} in CLOSE_WAIT ${age}: the peer closed, ${holder} did not`,
        meaning:
          'The peer closed its side (its FIN arrived and was acknowledged) and the application has not closed the socket. ' +
          'Nothing times CLOSE_WAIT out: the socket, its file descriptor and its buffers stay until the application calls close().',
        advice:
          "Close every socket whose peer has ended: call socket.end() or socket.destroy() on 'end' (a server created with " +
          'allowHalfOpen: true must do it itself), consume or destroy every HTTP response body (res.resume() when it is not needed), ' +
          'and release pooled connections on error paths. The peers listed say which connections these are.',
      };
    case TcpState.FinWait2:
      return {
        summary: `${sockets} in FIN_WAIT_2 ${age}: this side closed, the peer never did`,
        meaning:
          'This side sent its FIN and the peer acknowledged it, but the peer has not closed its side: its application holds the ' +
          'connection in CLOSE_WAIT, which is its leak seen from here. While this side keeps the socket open there is no timeout; ' +
          'once closed, the kernel drops it after net.ipv4.tcp_fin_timeout (60 s).',
        advice:
          'Look at the peers listed: they do not close connections their peer closed (run socklife doctor on them). Here, ' +
          'socket.destroy() or a socket.setTimeout() on half-closed sockets bounds how long they are kept.',
      };
    case TcpState.FinWait1:
      return {
        summary: `${sockets} in FIN_WAIT_1 ${age}: the peer does not acknowledge this side's FIN`,
        meaning:
          'This side closed and sent (or queued) its FIN, and the peer has not acknowledged it: the peer is unreachable or gone, ' +
          'or it does not read, so its receive window is full and the data and FIN queued here cannot be sent.',
        advice:
          'Check the path to the peers listed (a firewall dropping packets, a host that went away) and whether they read their ' +
          'data. The kernel retransmits the FIN (net.ipv4.tcp_retries2, tcp_orphan_retries for closed sockets); socket.destroy() ' +
          'after a timeout frees the socket sooner.',
      };
  }
}

/** A client-side TIME_WAIT finding's words; `fraction`: the share of the ephemeral range, rounded as in the JSON. */
export function clientTimeWaitText(count: number, peer: EndpointJson, fraction: number | null): FindingText {
  const share = fraction === null ? '' : ` (${(fraction * 100).toFixed(1)} % of the ephemeral port range)`;
  return {
    summary: `${plural(count, 'connection')} to ${formatEndpoint(peer)} in TIME_WAIT${share}: this side opens and closes them one after another`,
    meaning:
      'The side that closes a connection first keeps it in TIME_WAIT for 60 s. These are connections this side opened to one ' +
      'destination and closed first; each keeps its local port out of use for that destination, and when the ephemeral port ' +
      'range runs out, connect() fails with EADDRNOTAVAIL.',
    advice:
      'Reuse connections instead of opening one per request (an http.Agent with keepAlive: true, a connection pool), or let ' +
      'the server close first. net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse TIME_WAIT ports safely; widening ' +
      'net.ipv4.ip_local_port_range buys room, not a fix.',
  };
}

/** A server-side TIME_WAIT finding's words. */
export function serverTimeWaitText(count: number, localPort: number): FindingText {
  return {
    summary: `${plural(count, 'connection')} on listening port ${localPort} in TIME_WAIT: the server closes first`,
    meaning:
      'The side that closes a connection first keeps it in TIME_WAIT for 60 s. Here the server closed them: they do not use up ' +
      'ports (each has its own client port) but cost memory, and show connections closed that clients could have reused.',
    advice:
      'Let the client close first: keep HTTP connections alive (server.keepAliveTimeout longer than the clients\u2019 idle ' +
      'timeout) instead of closing after each response, and avoid \u2018Connection: close\u2019. tcp_tw_reuse does not apply to ' +
      'incoming connections.',
  };
}

/** An accept-queue finding's words, with the namespace's listen counters when read. */
export function listenQueueText(
  local: EndpointJson,
  acceptQueue: number,
  backlog: number,
  counters: { readonly listenOverflows?: number; readonly listenDrops?: number },
): FindingText {
  const drops =
    counters.listenOverflows === undefined
      ? ''
      : ` Since the network namespace was created the kernel counted ${counters.listenOverflows} ListenOverflows and ${counters.listenDrops ?? 'an unknown number of'} ListenDrops (all listeners).`;
  return {
    summary: `accept queue of ${formatEndpoint(local)} holds ${acceptQueue} of at most ${backlog} connections: the process does not accept fast enough`,
    meaning:
      'These connections finished the handshake and wait for the application to accept() them. When the queue is full the ' +
      `kernel drops new handshakes (ListenOverflows), and clients see retransmitted SYNs and slow or failed connects.${drops}`,
    advice:
      'Look for event-loop stalls (long synchronous work, GC pauses, a blocked main thread) that keep the process from ' +
      'accepting; raise the backlog (server.listen({ backlog })) together with net.core.somaxconn, which caps it.',
  };
}

export function attributionText(pid: number | undefined, port: number | undefined): string {
  if (pid !== undefined) {
    return (
      `TIME_WAIT sockets belong to no process (inode 0). These are tied to pid ${pid} by its listening ports (server side) ` +
      'and by the destinations of its current connections (client side): another process listening on the same port or ' +
      'talking to the same destination is counted too, and TIME_WAIT towards a destination it no longer has a connection to is not.'
    );
  }
  if (port !== undefined) return `Every TIME_WAIT socket whose local or peer port is ${port}, whichever process made it.`;
  return 'Every TIME_WAIT socket of the network namespace.';
}
