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
