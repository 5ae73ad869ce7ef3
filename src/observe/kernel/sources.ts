import type { SourceOption } from '../../types.js';
import type { KernelSource } from './source.js';
import { SsSource } from './ss-source.js';

/** The sources to try, in order, for a `source` option. */
export function kernelSourcesFor(option: SourceOption): KernelSource[] {
  switch (option) {
    case 'none':
      return [];
    case 'ss':
      return [new SsSource()];
    case 'proc':
    case 'netstat':
    case 'auto':
      return [new SsSource()];
  }
}
