/**
 * Every container the matrix starts says which process started it, so a later run
 * can remove what a run that died (SIGKILL, OOM, a cancelled CI step) could not.
 */
import { hostname } from 'node:os';

export const OWNER_PID_LABEL = 'meshcp.compat.pid';
export const OWNER_HOST_LABEL = 'meshcp.compat.host';

export function ownerLabels(): Record<string, string> {
  return { [OWNER_PID_LABEL]: String(process.pid), [OWNER_HOST_LABEL]: hostname() };
}
