/** A cumulative kernel counter: its rise between two reads. */
export class CounterDelta {
  private last: number | undefined;

  /** True once a value was read: from then on a rise is known (0 included). */
  get baselined(): boolean {
    return this.last !== undefined;
  }

  /** True when `value` is above the last one taken (without taking it). */
  rises(value: number | undefined): boolean {
    return value !== undefined && this.last !== undefined && value > this.last;
  }

  /** The rise since the previous readable value; undefined at the first (the baseline) and when unreadable. */
  take(value: number | undefined): number | undefined {
    if (value === undefined) return undefined;
    const last = this.last;
    this.last = value;
    // A counter never falls in a living namespace: a lower value starts a new baseline.
    return last === undefined || value < last ? undefined : value - last;
  }

  reset(): void {
    this.last = undefined;
  }
}
