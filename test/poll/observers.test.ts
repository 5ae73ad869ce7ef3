import { describe, expect, it } from 'vitest';
import type { Detector } from '../../src/detect/detector.js';
import { ListeningSockets } from '../../src/model/listening-sockets.js';
import { ConnectionTracker } from '../../src/model/tracker.js';
import { DetectorObservers } from '../../src/poll/observers.js';
import { RecordingListener } from '../model/fixture.js';

class Observer {
  running = false;
  start(): void {
    this.running = true;
  }
  stop(): void {
    this.running = false;
  }
}

describe('DetectorObservers', () => {
  const context = { model: new ConnectionTracker(new RecordingListener()), listeners: new ListeningSockets(), time: 1 };

  it('runs an observer while a detector that declared it is observing, and stops it when none is', () => {
    let observing = true;
    const detector: Detector = { name: 'd', needs: ['event-loop-stalls'], observing: () => observing };
    const stalls = new Observer();
    const observers = new DetectorObservers([detector, { name: 'other' }], { 'event-loop-stalls': stalls });
    observers.update(context);
    expect(stalls.running).toBe(true);
    observing = false;
    observers.update(context);
    expect(stalls.running).toBe(false);
    observing = true;
    observers.update(context);
    observers.stop();
    expect(stalls.running).toBe(false);
  });

  it('runs nothing no detector declared, and a detector that throws loses only its own observers', () => {
    const stalls = new Observer();
    const throwing: Detector = {
      name: 'd',
      needs: ['event-loop-stalls'],
      observing: () => {
        throw new Error('boom');
      },
    };
    new DetectorObservers([{ name: 'plain' }], { 'event-loop-stalls': stalls }).update(context);
    expect(stalls.running).toBe(false);
    expect(() => new DetectorObservers([throwing], { 'event-loop-stalls': stalls }).update(context)).not.toThrow();
    expect(stalls.running).toBe(false);
  });
});
