import type { BatchObservableCallback, Counter, Meter, ObservableGauge } from '@opentelemetry/api';
import type { Providers } from './providers.js';
import type { ListenFiguresSink, ListenPoll } from '../detect/listen-pressure-finding.js';
import { listenerAttributes, namespaceCounterAttributes } from './listener-attributes.js';

/**
 * The listen figures as metrics: per listener, gauges of what the last poll's kernel rows
 * showed (`server.address`, `server.port`); for the namespace, counters that add each poll's
 * rise of `ListenOverflows` and `ListenDrops` (`tcp.listen.counters_scope` = `namespace`: they
 * cannot be told apart per socket). In a `cluster` worker everything carries
 * `tcp.listener.shared` = true. Nothing is kept but the last poll.
 */
export class ListenMetrics implements ListenFiguresSink {
  private latest: ListenPoll | undefined;
  private synReceived!: ObservableGauge;
  private acceptQueue!: ObservableGauge;
  private backlog!: ObservableGauge;
  private overflows!: Counter;
  private drops!: Counter;

  constructor(providers: Providers) {
    providers.bindMeter((meter) => this.bind(meter));
  }

  /** Makes the instruments on `meter`; returns what removes its callback. */
  private bind(meter: Meter): () => void {
    this.synReceived = meter.createObservableGauge('tcp.listen.syn_received', {
      description: 'Connections in SYN_RECEIVED on a listening socket of this process (handshakes waiting for the final ACK), at the last poll.',
      unit: '{connection}',
    });
    this.acceptQueue = meter.createObservableGauge('tcp.listen.accept_queue', {
      description: 'Connections completed and waiting for accept() on a listening socket of this process, at the last poll.',
      unit: '{connection}',
    });
    this.backlog = meter.createObservableGauge('tcp.listen.backlog', {
      description: 'The accept-queue limit of a listening socket of this process: min(backlog, net.core.somaxconn).',
      unit: '{connection}',
    });
    this.overflows = meter.createCounter('tcp.listen.overflows', {
      description: 'SYNs and final ACKs the kernel dropped because an accept queue was full (TcpExt ListenOverflows), in the whole network namespace.',
      unit: '{segment}',
    });
    this.drops = meter.createCounter('tcp.listen.drops', {
      description: 'Segments the kernel dropped on listening sockets, overflows included (TcpExt ListenDrops), in the whole network namespace.',
      unit: '{segment}',
    });
    const collect: BatchObservableCallback = (result) => {
      const poll = this.latest;
      if (poll === undefined) return;
      for (const l of poll.listeners) {
        const attributes = listenerAttributes(l.address, l.port, poll.shared);
        if (l.synReceived !== undefined) result.observe(this.synReceived, l.synReceived, attributes);
        if (l.acceptQueue !== undefined) result.observe(this.acceptQueue, l.acceptQueue, attributes);
        if (l.backlog !== undefined) result.observe(this.backlog, l.backlog, attributes);
      }
    };
    const observables = [this.synReceived, this.acceptQueue, this.backlog];
    meter.addBatchObservableCallback(collect, observables);
    return () => {
      meter.removeBatchObservableCallback(collect, observables);
      this.latest = undefined;
    };
  }

  observe(poll: ListenPoll): void {
    this.latest = poll;
    const attributes = namespaceCounterAttributes(poll.shared);
    if (poll.overflows !== undefined) this.overflows.add(poll.overflows, attributes);
    if (poll.drops !== undefined) this.drops.add(poll.drops, attributes);
  }
}
