import { execFileSync } from 'node:child_process';

/**
 * Why a live test cannot run here, or undefined when it can. Under CI a missing requirement
 * is a failure, not a skip: CI installs everything, so a skip there would hide a broken setup.
 */
export function missingTool(command: string, args: string[] = ['-V']): string | undefined {
  try {
    execFileSync(command, args, { stdio: 'ignore', timeout: 5000 });
    return undefined;
  } catch {
    return `${command} is not available`;
  }
}

/** Returns true when the test should be skipped (printing why); throws under CI. */
export function skipWithReason(reason: string | undefined): boolean {
  if (reason === undefined) return false;
  if (process.env.CI) throw new Error(`required under CI: ${reason}`);
  console.warn(`skipped: ${reason}`);
  return true;
}

/**
 * Node 24's http.Agent destroys a pooled idle socket on any read, the peer's FIN included
 * (`freeSocketOnReadGuard` in its `_http_agent`), before the socket emits `'end'`: socklife
 * does not yet recognise that destroy as the peer closing an idle connection, so the
 * `peer_closed_idle` close reason and the idle-timeout learning of `http.Agent` pools do not
 * work there. The tests of those skip on Node 24 with this reason until they do.
 */
export const AGENT_READ_GUARD =
  Number(process.versions.node.split('.')[0]) >= 24
    ? "Node 24's http.Agent destroys an idle pooled socket on the peer's FIN before 'end': not recognised yet"
    : undefined;
