// The record of a successful fence, stored at `fences/<node>` (Keys.fence, SPEC §5.2): written by
// `hactl fence` (device or operator confirmation) and by an agent that fenced a peer itself. The
// fence gate of fence-then-start reads it; `hactl status` shows the node as fenced.
import type { FenceAction } from './protocol.js';

export interface FenceRecord {
  /** `device <name> (<agent>) action <action>` or `operator confirmed down`. */
  how: string;
  /** Who fenced: `user@host` for the CLI, the agent's node name for an automatic fence. */
  by: string;
  atWallMs: number;
  /** Why the agent fenced (absent for the CLI). */
  reason?: string;
}

/** The `how` of a fence done through a device. */
export function deviceFenceHow(device: { name: string; agent: string }, action: Exclude<FenceAction, 'monitor' | 'status'>): string {
  return `device ${device.name} (${device.agent}) action ${action}`;
}

/** `atWallMs` is for people reading the record; the fence gate compares etcd revisions, not times. */
export function fenceRecordJson(how: string, by: string, atWallMs: number, reason?: string): string {
  const record: FenceRecord = { how, by, atWallMs, ...(reason ? { reason } : {}) };
  return JSON.stringify(record);
}
