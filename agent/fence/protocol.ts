// The fence-agents calling convention (ClusterLabs fence-agents, fence/agents/lib/fencing.py.py):
// an agent started WITHOUT arguments reads its options from stdin, one `name=value` per line
// (`process_input`: `if len(sys.argv) > 1: _parse_input_cmdline else _parse_input_stdin`); blank
// lines and `#` lines are skipped, one pair of surrounding double quotes is removed, `-` and `_` are
// interchangeable, unknown names only log "Ignoring unknown option" and `nodename` is skipped
// silently. Options: `action=on|off|reboot|status|monitor|list|metadata` (the library's default
// is reboot), `plug=` (alias `port=`), device options such as `ip=`, `username=`, `password=` or
// `password_script=`; flags take 1/yes/on/true. Exit status (`fence_action`): 0 success, 1 generic
// error, 2 bad arguments — and for `status`, 0 = "Status: ON", 2 = "Status: OFF"; 3..11 login
// denied, connection lost, timed out, waiting on/off, status failed, password missing... A
// `reboot` reports success once the power went off, even when powering on again failed.
import type { ParamValue } from '../config/cluster-schema.js';

/** What hactl asks of a device: fence a node (`off`, `reboot`), ask its power state (`status`), or check the device itself (`monitor`). */
export type FenceAction = 'off' | 'reboot' | 'status' | 'monitor';

/**
 * Device parameters that hactl interprets itself and does not pass on as they are:
 * - `action`: the action of a fence (`off`, the default, or `reboot`); calls send their own `action=`.
 * - `plug`: a fixed plug for a device that powers one node (sent as `plug=` instead of the node name).
 * - `plugs`: a map node -> plug (`plugs: { mq1: vm-mq1 }`) for a device that powers several nodes
 *   under other names (hypervisor domains, PDU outlets); a node not in the map is its own plug.
 */
export const RESERVED_PARAMS = new Set(['action', 'plug', 'plugs']);

/**
 * The default fence action is `off`, not Pacemaker's `reboot`: hactl guards exclusive resources
 * (shared disks, floating IPs) and a host powered off stays off until someone has looked at it, where
 * a reboot brings a possibly still broken host straight back (and fence-agents' reboot counts as
 * success even when the power-on half failed). `params.action: reboot` opts in to Pacemaker's behaviour.
 */
export const DEFAULT_FENCE_ACTION = 'off';

export type Configured<T> = { ok: true; value: T } | { ok: false; reason: string };

/** The action a device fences with (`params.action`, default `off`). */
export function configuredFenceAction(params: Record<string, ParamValue>): Configured<'off' | 'reboot'> {
  const a = params.action;
  if (a === undefined) return { ok: true, value: DEFAULT_FENCE_ACTION };
  if (a === 'off' || a === 'reboot') return { ok: true, value: a };
  return { ok: false, reason: `device parameter action must be off or reboot, got ${JSON.stringify(a)}` };
}

/** The plug a device is told for `node`: `params.plug`, else `params.plugs[node]`, else the node name. */
export function plugFor(params: Record<string, ParamValue>, node: string): Configured<string> {
  const { plug, plugs } = params;
  if (plug !== undefined) {
    if (typeof plug !== 'string' && typeof plug !== 'number') return { ok: false, reason: 'device parameter plug must be a single value' };
    return { ok: true, value: String(plug) };
  }
  if (plugs !== undefined) {
    if (typeof plugs !== 'object' || Array.isArray(plugs)) return { ok: false, reason: 'device parameter plugs must be a map node -> plug' };
    return { ok: true, value: plugs[node] ?? node };
  }
  return { ok: true, value: node };
}

/** One option as a stdin line's value (numbers and booleans as text; a boolean as 1/0). */
export function optionText(name: string, value: ParamValue): Configured<string> {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = String(value);
  else if (typeof value === 'boolean') text = value ? '1' : '0';
  else return { ok: false, reason: `device parameter ${name} is a list or map; fence agent options are single values` };
  if (/[\r\n\0]/.test(text)) return { ok: false, reason: `device parameter ${name} contains a line break` };
  return { ok: true, value: text };
}

/** The stdin text: `name=value` lines, newline-terminated, in the given order. */
export function stdinText(options: ReadonlyArray<readonly [string, string]>): string {
  return options.map(([k, v]) => `${k}=${v}\n`).join('');
}
