// What a simulated host and agent may reach in their world: the scheduler, the network, the
// simulated etcd, the seeded Prng, the cluster configuration, the checker and the trace.
import type { ClusterConfig } from '../../agent/config/cluster-schema.js';
import type { ClusterView, DecideInput, SetDecision } from '../../agent/core/types.js';
import type { Keys } from '../../agent/etcd/keys.js';
import type { ViewBuilder } from '../../agent/etcd/view.js';
import type { Prng } from './prng.js';
import type { Scheduler } from './scheduler.js';
import type { SimEtcd } from './sim-etcd.js';
import type { SimNet } from './sim-net.js';
import type { FaultRates, RunRequest } from './sim-runner.js';
import type { Fix } from './reverts.js';
import type { LeaseRules } from '../../agent/core/lease.js';

export type DecideFn = (input: DecideInput) => SetDecision;

export interface CheckerPort {
  truthChanged(): void;
  onStart(host: { name: string; agentEpoch: number }, req: RunRequest): void;
}

export interface SimEnv {
  readonly sched: Scheduler;
  readonly net: SimNet;
  readonly etcd: SimEtcd;
  readonly prng: Prng;
  readonly keys: Keys;
  /**
   * One ViewBuilder for every agent of the world: build() is a pure function of the keys apart
   * from its cache of the parsed configuration (by the config key's mod revision), and parsing the
   * YAML once per world instead of twice per agent incarnation was a third of the simulator's time.
   */
  readonly viewBuilder: ViewBuilder;
  /**
   * The view at `revision`, built once per world: a watch mirror that has applied the change log up
   * to a revision holds exactly the server's keys at that revision, so every agent at the same
   * revision builds the same view (the core never mutates it). Building it was a quarter of the time.
   */
  viewAt(revision: number, build: () => ClusterView): ClusterView;
  readonly config: ClusterConfig;
  readonly checker: CheckerPort;
  readonly decide: DecideFn;
  /** The lease arithmetic's rule table the keepers take (a mutation may swap it). */
  readonly leaseRules: LeaseRules;
  faultRates(): FaultRates;
  /** Watch lag of a host right now (ms of true time). */
  watchLagMs(host: string): number;
  trace(host: string, msg: string): void;
  readonly tracing: boolean;
  /** A problem that is not a safety violation (e.g. a retry loop that can never succeed). */
  finding(text: string): void;
  /** Whether this run has switched the fix of a found bug off again (reverts.ts). */
  reverted(fix: Fix): boolean;
}
