import type { SourceOption } from '../../types.js';
import { NetstatSource } from './netstat-source.js';
import { ProcNetSource } from './proc-source.js';
import type { KernelSource } from './source.js';
import { SsSource } from './ss-source.js';

/** The sources to try, in order, for a `source` option: an explicit choice is the only one tried. */
export function kernelSourcesFor(option: SourceOption): KernelSource[] {
  switch (option) {
    case 'none':
      return [];
    case 'ss':
      return [new SsSource()];
    case 'proc':
      return [new ProcNetSource()];
    case 'netstat':
      return [new NetstatSource()];
    case 'auto':
      // ss filters in the kernel; /proc needs no child process; netstat is the last resort (and macOS).
      return [new SsSource(), new ProcNetSource(), new NetstatSource()];
  }
}
