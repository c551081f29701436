// Cause codes: why a decision was taken or an event written, as a stable kebab-case word beside
// the human `reason`. Programs (the availability report, dashboards, log queries) read the code;
// people read the reason. A reason's wording may change in any release; a code's meaning may
// not: a code is never renamed or reused for something else, only added (docs/operations.md
// "Cause codes" lists them for users, and a unit test keeps that list equal to this one).
//
// The list is closed: `Cause` is a union, so every decision (agent/core/decide.ts) and every
// event the agents and hactl write must name one of these, checked by the compiler.

/** Every cause code, with what it means (the docs repeat these sentences). */
export const CAUSES = {
  // This host and its lease.
  'agent-started': 'the agent registered with etcd (a new lease)',
  'agent-shutdown': 'the agent is shutting down (systemctl stop, an upgrade): it stops its sets and releases them',
  'lease-doubt': "this host's etcd lease is missing or may have expired: it stops everything it runs and starts nothing (self-fencing)",
  'lease-sound': "this host's etcd lease is sound again after a doubt",
  'events-dropped': 'events could not be written while etcd was unreachable and were dropped',
  // Configuration.
  'config-changed': "the set's configuration (or the cluster's timing) changed: the set is stopped and started with the new one",
  'config-removed': 'the set was removed from the configuration',
  'config-unreadable': 'the stored configuration could not be read: the agent keeps the last good one',
  // Operator actions.
  maintenance: 'maintenance mode: nothing is started, stopped or monitored',
  disabled: 'an operator disabled the set (hactl disable): stopped everywhere until hactl enable',
  enabled: 'an operator enabled the set again (hactl enable)',
  'operator-failover': 'an operator asked for a failover or move of the set (hactl failover, hactl move)',
  'failover-refused': "an operator's failover or move cannot be carried out (no such candidate, already there)",
  standby: 'the host is in standby (hactl standby): its sets move away',
  banned: 'the host is banned for the set (a failure on it, or an operator): the set moves away',
  'operator-cleanup': "an operator cleared the set's failures (hactl cleanup): its resources are probed again",
  // Placement.
  'not-preferred': "the host is not in the set's prefer list: the set moves to one that is",
  failback: 'a host preferred over this one is back (failback: true): the set moves to it',
  'no-owner': 'the set has no owner and this host is the best eligible one: it takes the set',
  'no-eligible-host': 'no host may run the set now (all offline, banned, in standby, or excluded)',
  'waiting-for-host': 'another host is the best place for the set: this host waits for it to take it',
  'owned-elsewhere': 'another host owns the set; nothing runs here',
  probing: 'this host probes what runs of the set before it decides',
  // Ownership changes.
  'planned-switchover': 'the previous owner stopped the set cleanly and handed it to this host',
  'owner-lease-lost': 'the previous owner lost its lease without stopping the set cleanly (host or network loss): an unplanned takeover, and the fence it may need',
  'lease-unrenewed': "an owner's lease went unrenewed for timing.suspectAfter: it is fenced before its lease expires",
  'stale-copy': 'a copy of the set runs on a host that does not own it: that copy is stopped',
  'token-changed': 'the resources here were started under an older fencing token: they are stopped',
  // The takeover gate.
  'waiting-for-fence': 'the new owner waits for a host that may still run the set to be fenced (or confirmed down) before any start',
  'takeover-grace': 'the new owner waits out the takeover grace (the old owner stopping by itself) before any start',
  'fence-failed': 'a fence device failed or timed out; the fence is tried again with backoff',
  'fence-victim-restarted': 'the host to fence registered again (a new life) before it was fenced: the fence is dropped',
  // Resources.
  starting: 'the set starts here, resource by resource',
  started: 'every resource of the set started: the set runs here',
  running: 'the set runs here as it should',
  'resource-not-running': 'a resource is not running while the set should run: the set restarts from it',
  'start-failed': 'a start failed: the set moves away and the host is banned for onFailure.banFor',
  'monitor-failed': 'a monitor failed: the resource is restarted in place, or the set moves once onFailure.restarts is exceeded',
  'stop-failed': "a stop failed: what runs is unknown; the set is blocked until this host is fenced or an operator runs hactl cleanup",
  'set-failed': 'a resource reported it is not configured (OCF rc 6): the set is stopped everywhere until hactl cleanup',
} as const satisfies Record<string, string>;

export type Cause = keyof typeof CAUSES;

/** True for a code this version knows (records may come from newer or older versions). */
export function isCause(value: unknown): value is Cause {
  return typeof value === 'string' && Object.hasOwn(CAUSES, value);
}
