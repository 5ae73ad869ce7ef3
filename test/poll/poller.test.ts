import { describe, expect, it } from 'vitest';
import type { Detector } from '../../src/detect/detector.js';
import type { Finding } from '../../src/detect/finding.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { KernelReader } from '../../src/observe/kernel/kernel-reader.js';
import { Poller } from '../../src/poll/poller.js';
import type { KernelSocketRow } from '../../src/observe/kernel/rows.js';
import type { KernelQuery, KernelSource } from '../../src/observe/kernel/source.js';
import type { StateChange } from '../../src/model/connection.js';
import { TcpState } from '../../src/tcp-states.js';
import { model, row, serverFinWait2 } from '../model/fixture.js';

/** A detector that records what the poller asked of it. */
function recordingDetector(name: string, calls: string[], behaviour: Partial<Detector> = {}): Detector {
  return {
    name,
    wantsCounters: () => {
      calls.push(`${name}.wantsCounters`);
      return true;
    },
    fromEvents: () => {
      calls.push(`${name}.fromEvents`);
      return [];
    },
    fromKernel: () => {
      calls.push(`${name}.fromKernel`);
      return [];
    },
    ...behaviour,
  };
}

/** Runs the poller until the last detector's kernel pass has run: one poll, waited for, not slept through. */
async function onePoll(
  detectors: Detector[],
  reported: Finding[] = [],
  hooks: { beforeDetection?: () => void; afterDetection?: () => void } = {},
): Promise<void> {
  const { tracker } = model();
  let counterReads = 0;
  const last = detectors.at(-1) as Detector;
  const fromKernel = last.fromKernel;
  const kernelPassDone = new Promise<void>((resolve) => {
    last.fromKernel = (context, rows) => {
      try {
        return fromKernel?.call(last, context, rows) ?? [];
      } finally {
        resolve();
      }
    };
  });
  const poller = new Poller({
    intervalMs: 60_000,
    tracker,
    listeners: new ListeningSockets(),
    reader: new KernelReader([]),
    detectors,
    findings: { report: (f) => reported.push(f) },
    readCounters: async () => {
      counterReads++;
      return {};
    },
    ...hooks,
  });
  poller.start();
  await kernelPassDone;
  poller.stop();
  expect(counterReads).toBe(1);
}

describe('Poller', () => {
  it('asks every detector whether it wants the counters, each poll (a detector may start measuring then), and reads them once', async () => {
    const calls: string[] = [];
    await onePoll([recordingDetector('a', calls), recordingDetector('b', calls)]);
    expect(calls).toEqual(['a.fromEvents', 'b.fromEvents', 'a.wantsCounters', 'b.wantsCounters', 'a.fromKernel', 'b.fromKernel']);
  });

  it('runs its hooks around the event pass: before it (the meter provider a finding counts on), and after it', async () => {
    const calls: string[] = [];
    const finding = { type: 'close_wait_leak' } as unknown as Finding;
    const reported: Finding[] = [];
    const detector = recordingDetector('a', calls, {
      fromEvents: () => {
        calls.push('a.fromEvents');
        return [finding];
      },
    });
    await onePoll([detector], reported, { beforeDetection: () => calls.push('before'), afterDetection: () => calls.push('after') });
    expect(calls.slice(0, 3)).toEqual(['before', 'a.fromEvents', 'after']);
    expect(reported).toEqual([finding]);
  });

  it('a detector that throws loses only its own findings', async () => {
    const calls: string[] = [];
    const finding = { type: 'close_wait_leak' } as unknown as Finding;
    const reported: Finding[] = [];
    const throwing = recordingDetector('a', calls, {
      fromEvents: () => {
        throw new Error('broken detector');
      },
      wantsCounters: () => {
        throw new Error('broken detector');
      },
    });
    const healthy = recordingDetector('b', calls, { fromEvents: () => [finding] });
    await onePoll([throwing, healthy], reported);
    expect(reported).toEqual([finding]);
    expect(calls).toContain('b.wantsCounters');
  });
});

describe('the model’s own kernel need', () => {
  it('is asked with the detectors’ needs, and its rows go back to the model, which finishes the after-close story itself', async () => {
    const f = serverFinWait2();
    f.tracker.socketEvent(f.socket, { type: 'end' });
    f.tracker.socketEvent(f.socket, { type: 'close' });
    const queries: KernelQuery[] = [];
    // The first read shows the closed connection in TIME_WAIT; later ones no longer list it.
    const source: KernelSource = {
      name: 'ss',
      read: async (query) => {
        queries.push(query);
        const rows: KernelSocketRow[] = queries.length === 1 ? [row(f.socket, TcpState.TimeWait)] : [];
        return { rows, skipped: 0 };
      },
    };
    const done = new Promise<readonly StateChange[]>((resolve) => {
      f.listener.afterClose = (_c, sightings) => resolve(sightings);
    });
    const poller = new Poller({
      intervalMs: 10,
      tracker: f.tracker,
      listeners: new ListeningSockets(),
      reader: new KernelReader([source]),
      detectors: [],
      findings: { report: () => {} },
    });
    poller.start();
    const sightings = await done;
    poller.stop();
    expect(queries[0]?.portPairs).toEqual([{ localPort: f.socket.localPort, peerPort: f.socket.remotePort }]);
    expect(sightings.map((s) => s.state)).toEqual([TcpState.TimeWait, TcpState.Closed]);
    expect(f.tracker.followedAfterClose).toBe(0);
  });
});
