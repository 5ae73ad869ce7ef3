import { diag } from '@opentelemetry/api';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Finding, FindingSink } from '../detect/finding.js';
import { ATTR, peerRedacted } from './attributes.js';
import { findingSpan } from './finding-reporter.js';
import { urlPathRedacted } from './request-attributes.js';

/** Lines waiting to be written beyond this are dropped (and counted): a stuck disk must not grow the heap. */
const MAX_PENDING_BYTES = 1024 * 1024;

/** One finding as one JSON line: what an operator greps for without a tracing backend. */
export interface FindingRecord {
  /** When it was found (ISO 8601). */
  readonly time: string;
  readonly type: Finding['type'];
  readonly message: string;
  /** When the condition began, as far as socklife knows (ISO 8601). */
  readonly since: string;
  readonly cause?: string;
  readonly side?: string;
  readonly local?: { readonly address: string; readonly port: number };
  /** The other end; its port only under `redactPeerAddresses`. */
  readonly peer?: { readonly address?: string; readonly port: number };
  /** The innermost application frame of the creation stack. */
  readonly frame?: { readonly function?: string; readonly file: string; readonly line: number; readonly column?: number };
  /** Every attribute of the finding's span but the full stack: counts, durations, states. */
  readonly attributes: Record<string, unknown>;
  /** The span of the last HTTP request the connection carried, which the finding's span links to. */
  readonly link?: { readonly traceId: string; readonly spanId: string };
}

export function findingRecord(finding: Finding, redactPeerAddresses = false, redactUrlPaths = false): FindingRecord {
  const spec = findingSpan(finding);
  const a = urlPathRedacted(peerRedacted(spec.attributes, redactPeerAddresses && spec.namesPeers !== false), redactUrlPaths);
  const link = spec.links?.[0]?.context;
  const attributes: Record<string, unknown> = {};
  let cause: string | undefined;
  for (const [key, value] of Object.entries(a)) {
    if (key === ATTR.codeStacktrace || value === undefined) continue;
    attributes[key] = value;
    if (cause === undefined && key.endsWith('.cause') && typeof value === 'string') cause = value;
  }
  const endpoint = (address: unknown, port: unknown) => (typeof address === 'string' && typeof port === 'number' ? { address, port } : undefined);
  const local = endpoint(a[ATTR.networkLocalAddress], a[ATTR.networkLocalPort]);
  const peerPort = a[ATTR.networkPeerPort];
  const peer = redactPeerAddresses ? (typeof peerPort === 'number' ? { port: peerPort } : undefined) : endpoint(a[ATTR.networkPeerAddress], peerPort);
  const file = a[ATTR.codeFilePath];
  const line = a[ATTR.codeLineNumber];
  const fn = a[ATTR.codeFunctionName];
  const column = a[ATTR.codeColumnNumber];
  const side = a[ATTR.socketSide];
  return {
    time: new Date(spec.endTime).toISOString(),
    type: finding.type,
    message: spec.errorMessage,
    since: new Date(spec.startTime).toISOString(),
    ...(cause === undefined ? {} : { cause }),
    ...(typeof side === 'string' ? { side } : {}),
    ...(local === undefined ? {} : { local }),
    ...(peer === undefined ? {} : { peer }),
    ...(typeof file === 'string' && typeof line === 'number'
      ? { frame: { file, line, ...(typeof column === 'number' ? { column } : {}), ...(typeof fn === 'string' ? { function: fn } : {}) } }
      : {}),
    attributes,
    ...(link === undefined ? {} : { link: { traceId: link.traceId, spanId: link.spanId } }),
  };
}

/**
 * Writes each finding as one JSON line to stderr or to a file (appended), with no tracing
 * backend and no SDK needed. The file opens on the first finding; a write error is said once
 * and the log goes quiet. Never blocks on a slow disk: lines beyond a bounded backlog are
 * dropped and counted.
 */
export class JsonFindingLog implements FindingSink {
  private stream: WriteStream | undefined;
  private failed = false;
  private dropped = 0;

  /**
   * @param target `'stderr'`, or the path of a file to append to.
   * @param redactPeerAddresses leave the other end's address out (its port stays).
   * @param redactUrlPaths leave request paths out.
   */
  constructor(
    private readonly target: string,
    private readonly redactPeerAddresses = false,
    private readonly redactUrlPaths = false,
  ) {}

  report(finding: Finding): void {
    if (this.failed) return;
    const line = `${JSON.stringify(findingRecord(finding, this.redactPeerAddresses, this.redactUrlPaths))}\n`;
    if (this.target === 'stderr') {
      process.stderr.write(line);
      return;
    }
    const stream = (this.stream ??= this.open());
    if (stream.writableLength > MAX_PENDING_BYTES) {
      if (this.dropped++ === 0) diag.warn(`socklife: ${this.target} is not keeping up; dropping findings until it does`);
      return;
    }
    stream.write(line);
  }

  /** Findings dropped because the file did not keep up. */
  get droppedCount(): number {
    return this.dropped;
  }

  stop(): void {
    this.stream?.end();
    this.stream = undefined;
  }

  private open(): WriteStream {
    const stream = createWriteStream(this.target, { flags: 'a' });
    stream.on('error', (error) => {
      if (this.failed) return;
      this.failed = true;
      diag.error(`socklife: cannot write findings to ${this.target}; the log is off`, error);
    });
    return stream;
  }
}
