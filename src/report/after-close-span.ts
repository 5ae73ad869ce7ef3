import { SpanKind, type Attributes, type Context, type Tracer } from '@opentelemetry/api';
import type { Connection, StateChange } from '../model/connection.js';
import { ATTR, stateChangeAttributes } from './attributes.js';
import { endSpan } from './providers.js';

/**
 * What the kernel did with a connection after Node closed it, as a follow-up span in the
 * connection's trace (`parent`): the connection span has already ended and takes no more
 * events. `sightings` are the kernel states the polls saw, the last one `closed`.
 */
export function writeAfterCloseSpan(tracer: Tracer, parent: Context, c: Connection, sightings: readonly StateChange[], endpoints: Attributes): void {
  const first = sightings[0];
  const last = sightings.at(-1);
  if (first === undefined || last === undefined) return;
  const span = tracer.startSpan(
    'tcp.after_close',
    {
      kind: SpanKind.INTERNAL,
      startTime: c.closedAt ?? first.time,
      attributes: {
        [ATTR.networkTransport]: 'tcp',
        ...endpoints,
        [ATTR.connectionState]: sightings.length > 1 ? (sightings.at(-2) as StateChange).state : first.state,
        [ATTR.stateSource]: 'kernel',
      },
    },
    parent,
  );
  for (const change of sightings) {
    span.addEvent('tcp.state_change', stateChangeAttributes(change.state, change.source), change.time);
  }
  endSpan(span, last.time);
}
