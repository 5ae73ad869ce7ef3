import type { Detector, ObserverName, PollContext } from '../detect/detector.js';
import { guarded } from '../notify.js';

/** An observer the engine can run: started and stopped, never by a detector. */
export interface RunnableObserver {
  start(): void;
  stop(): void;
}

/**
 * Runs the observers the detectors declare (`Detector.needs`): once per poll, each observer
 * runs while some detector that declared it is `observing`, and is stopped when none is.
 * The engine makes the observers and passes them to the detectors that read them.
 */
export class DetectorObservers {
  constructor(
    private readonly detectors: readonly Detector[],
    private readonly observers: Readonly<Partial<Record<ObserverName, RunnableObserver>>>,
  ) {}

  update(context: Omit<PollContext, 'counters'>): void {
    const wanted = new Set<ObserverName>();
    for (const d of this.detectors) {
      if (d.needs === undefined || d.needs.length === 0) continue;
      if (!guarded(`detector ${d.name}`, () => d.observing?.(context) ?? true, false)) continue;
      for (const name of d.needs) wanted.add(name);
    }
    for (const [name, observer] of Object.entries(this.observers) as [ObserverName, RunnableObserver][]) {
      if (wanted.has(name)) observer.start();
      else observer.stop();
    }
  }

  stop(): void {
    for (const observer of Object.values(this.observers)) observer?.stop();
  }
}
