import { execa } from 'execa';

/** An `ss` state name, as its state filter takes it. */
export type SsStateName = 'fin-wait-1' | 'fin-wait-2' | 'time-wait';

/** How many sockets the real `ss` shows in a state with these ports, from this end: the kernel's own record. */
export async function ssShows(state: SsStateName, localPort: number, peerPort: number): Promise<number> {
  const { stdout } = await execa('ss', ['-tanH', 'state', state, '(', 'sport', '=', `:${localPort}`, 'and', 'dport', '=', `:${peerPort}`, ')'], {
    timeout: 5000,
  });
  return stdout.split('\n').filter((line) => line.trim() !== '').length;
}
