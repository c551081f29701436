// The etcd key layout, all under /hactl/<cluster>/. One place names every key, so the agent, the
// CLI and the tests agree.
//
//   config                      the cluster configuration document (JSON: yaml text + who/when)
//   nodes/<node>                bound to the node's lease: the node is online while it exists
//   members/<node>              NOT lease-bound: every node that ever joined (so an offline node is still known)
//   owners/<set>                bound to the owner's lease; its create revision is the fencing token
//   holders/<set>               NOT lease-bound: who last acquired the set and whether it released it
//                               cleanly. A holder that is not `released` when the owner key is gone
//                               means the owner's lease expired: the next owner must wait the takeover
//                               grace or see the old holder fenced (SPEC §5.2, §5.3).
//   status/<set>                written by the owner, guarded by its fencing token
//   intents/failover/<set>      a planned switchover requested by an operator
//   intents/standby/<node>      a node in standby
//   intents/cleanup/<set>       `hactl cleanup`: its mod revision is a generation each agent acts on once
//   intents/maintenance         cluster-wide maintenance; intents/maintenance/<set> per set
//   intents/disabled/<set>      `hactl disable`: the set is stopped everywhere until `hactl enable`
//   bans/<set>/<node>           the node may not run the set until `untilWallMs`
//   fences/<node>               the last successful fence (or operator confirmation) of a node
//   fence-claims/<node>         bound to the claimer's lease: the one host now fencing <node>
//   fence-requests/<node>       bound to <node>'s lease: its stop failed, peers should fence it
//   devices/<device>            the last periodic monitor of a fence device (health for status)
//   events/<seq>                the event history
export function clusterPrefix(cluster: string): string {
  return `/hactl/${cluster}/`;
}

export class Keys {
  constructor(readonly prefix: string) {}
  static forCluster(cluster: string): Keys {
    return new Keys(clusterPrefix(cluster));
  }
  config(): string {
    return `${this.prefix}config`;
  }
  node(node: string): string {
    return `${this.prefix}nodes/${node}`;
  }
  member(node: string): string {
    return `${this.prefix}members/${node}`;
  }
  owner(set: string): string {
    return `${this.prefix}owners/${set}`;
  }
  holder(set: string): string {
    return `${this.prefix}holders/${set}`;
  }
  status(set: string): string {
    return `${this.prefix}status/${set}`;
  }
  failoverIntent(set: string): string {
    return `${this.prefix}intents/failover/${set}`;
  }
  cleanup(set: string): string {
    return `${this.prefix}intents/cleanup/${set}`;
  }
  bansOf(set: string): string {
    return `${this.prefix}bans/${set}/`;
  }
  standby(node: string): string {
    return `${this.prefix}intents/standby/${node}`;
  }
  maintenance(set?: string): string {
    return set === undefined ? `${this.prefix}intents/maintenance` : `${this.prefix}intents/maintenance/${set}`;
  }
  disabled(set: string): string {
    return `${this.prefix}intents/disabled/${set}`;
  }
  ban(set: string, node: string): string {
    return `${this.prefix}bans/${set}/${node}`;
  }
  fence(node: string): string {
    return `${this.prefix}fences/${node}`;
  }
  fenceClaim(node: string): string {
    return `${this.prefix}fence-claims/${node}`;
  }
  fenceRequest(node: string): string {
    return `${this.prefix}fence-requests/${node}`;
  }
  deviceHealth(device: string): string {
    return `${this.prefix}devices/${device}`;
  }
  devicesPrefix(): string {
    return `${this.prefix}devices/`;
  }
  event(seq: string): string {
    return `${this.prefix}events/${seq}`;
  }
  eventsPrefix(): string {
    return `${this.prefix}events/`;
  }
}
