// The cluster configuration (SPEC §3.2): one YAML document, stored in etcd, followed live by every
// agent. This zod schema is the single source of truth: `hactl config validate` and every agent run
// the same code, so a file that validates on an operator's laptop is what the agents will run.
// Durations are written as strings ("5s") and come out as milliseconds (`leaseTtlMs`).
import { z } from 'zod';
import { parseDurationMs, formatDurationMs } from './duration.js';

/** Pacemaker's default operation timeout when none is configured. */
export const DEFAULT_ACTION_TIMEOUT_MS = 20_000;
/** Default recurring monitor interval (SPEC §4). */
export const DEFAULT_MONITOR_INTERVAL_MS = 10_000;
/** A takeover grace above this is warned about: it is the unfenced failover time's main term. */
export const GRACE_WARNING_MS = 5_000;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const PARAM_NAME_RE = /^[A-Za-z0-9_]+$/;
/** Parameter names that hold a secret inline (`password`, `passwd`, `snmp_secret`...), refused in fence devices. */
const INLINE_SECRET_RE = /(?:^|_)(?:password|passwd|pass|secret)$/i;
const BUILTIN_TYPES = ['floating-ip', 'shared-disk', 'queue-manager', 'process', 'dummy'] as const;
const TYPE_RE =
  /^(?:ocf:[A-Za-z0-9_.-]+:[A-Za-z0-9_.-]+|systemd:[A-Za-z0-9@_.:\\-]+|script:\/[A-Za-z0-9_./+-]+|[A-Za-z0-9][A-Za-z0-9_.-]*)$/;
/** Types whose resource may exist on only one host at a time; sets holding them require fencing by default. */
const EXCLUSIVE_TYPES = new Set(['floating-ip', 'shared-disk', 'ocf:heartbeat:IPaddr2', 'ocf:heartbeat:IPaddr', 'ocf:heartbeat:Filesystem']);

const name = (what: string) => z.string().regex(NAME_RE, `not a valid ${what} name (letters, digits, _ . -; starting with a letter or digit)`);

const duration = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(text)} (write e.g. 500ms, 5s, 10m)` });
    return z.NEVER;
  }
  return ms;
});

/**
 * The shortest action timeout or interval accepted. 0s or 1ms would fail every action at once (or
 * run a monitor without pause); no agent, not even a no-op, finishes an action (fork, exec, the
 * shell's start-up) reliably faster.
 */
export const MIN_ACTION_TIMEOUT_MS = 100;

const actionDuration = duration.refine((ms) => ms >= MIN_ACTION_TIMEOUT_MS, {
  error: (issue) => `must be at least ${formatDurationMs(MIN_ACTION_TIMEOUT_MS)} (no agent finishes an action sooner), got ${formatDurationMs(issue.input as number)}`,
});

/** Parameters reach agents as environment variables, which cannot hold a NUL byte. */
const paramText = z.string().max(4096).refine((v) => !v.includes('\0'), 'contains a NUL byte, which cannot be passed to an agent');
const paramValue = z.union([
  paramText,
  z.number(),
  z.boolean(),
  z.array(paramText).max(256),
  z.record(z.string().regex(PARAM_NAME_RE, 'not a valid name ([A-Za-z0-9_]+)'), paramText),
], { error: 'must be a string, a number, true or false, a list of strings or a mapping of strings' });
const params = z.record(z.string().regex(PARAM_NAME_RE, 'not a valid parameter name ([A-Za-z0-9_]+)'), paramValue);

const resource = z.strictObject({
  id: name('resource'),
  type: z.string().regex(TYPE_RE, 'not a resource type (a built-in name, ocf:<provider>:<agent>, systemd:<unit>, script:<absolute path>, or an agent name)'),
  params: params.default({}),
  monitor: z
    .strictObject({ interval: actionDuration.optional(), timeout: actionDuration.optional(), depth: z.number().int().min(0).max(20).optional() })
    .default({}),
  start: z.strictObject({ timeout: actionDuration.optional() }).default({}),
  stop: z.strictObject({ timeout: actionDuration.optional() }).default({}),
});

const onFailure = z.strictObject({
  restarts: z.number().int().min(0).max(100).default(2),
  window: duration.default(600_000),
  banFor: duration.default(1_800_000),
});

const serviceSet = z.strictObject({
  mode: z.enum(['singleton', 'clone']).default('singleton'),
  instances: z.number().int().min(1).max(64).optional(),
  prefer: z.array(name('node')).max(64).optional(),
  anyNode: z.boolean().default(false),
  failback: z.boolean().default(false),
  onFailure: onFailure.prefault({}),
  requireFencing: z.boolean().optional(),
  /** Higher first when a host's resource actions queue up (setPriority: 0 when absent). */
  priority: z
    .unknown()
    .refine((n) => Number.isInteger(n) && Math.abs(n as number) <= 1000, 'must be a whole number from -1000 to 1000')
    .transform((n) => n as number)
    .optional(),
  resources: z.array(resource).min(1, 'a service set needs at least one resource').max(64),
});

const fenceDevice = z.strictObject({
  agent: z.string().regex(/^(?:fence_[A-Za-z0-9_]+|script:\/[A-Za-z0-9_./+-]+)$/, 'not a fence agent (fence_<name> or script:<absolute path>)'),
  params: params.default({}),
  timeout: actionDuration.default(60_000),
  monitorInterval: actionDuration.default(300_000),
});

export const ClusterConfigSchema = z
  .strictObject({
    timing: z
      .strictObject({
        leaseTtl: duration.default(5000),
        fenceMargin: duration.default(1000),
        /**
         * Fast fenced takeover: how long an owner's lease must have gone unrenewed (as etcd's leader
         * reports it) before a peer may fence that owner and take over without waiting for the
         * expiry. Only owners with a fence device are suspected. Default leaseTtl - 1s; `off` disables.
         */
        suspectAfter: z.union([z.literal('off'), duration], { error: 'must be off or a duration (e.g. 500ms, 5s, 10m)' }).optional(),
      })
      .prefault({}),
    nodes: z.record(name('node'), z.strictObject({ fence: name('fence device').optional() })).optional(),
    fencing: z.strictObject({ devices: z.record(name('fence device'), fenceDevice).default({}) }).prefault({}),
    events: z
      .strictObject({ retain: z.number().int().min(10).max(100_000).default(1000), maxAge: duration.default(30 * 86_400_000) })
      .prefault({}),
    serviceSets: z.record(name('service set'), serviceSet).default({}),
  })
  .superRefine((cfg, ctx) => {
    const { leaseTtl, fenceMargin } = cfg.timing;
    if (leaseTtl < 2000 || leaseTtl % 1000 !== 0) {
      ctx.addIssue({ code: 'custom', path: ['timing', 'leaseTtl'], message: `must be whole seconds and at least 2s (etcd leases are granted in seconds), got ${formatDurationMs(leaseTtl)}` });
    }
    if (fenceMargin * 2 >= leaseTtl) {
      ctx.addIssue({ code: 'custom', path: ['timing', 'fenceMargin'], message: `must be less than leaseTtl / 2 (${formatDurationMs(leaseTtl / 2)}), got ${formatDurationMs(fenceMargin)}` });
    }
    const suspect = cfg.timing.suspectAfter;
    if (typeof suspect === 'number' && (suspect * 2 < leaseTtl || suspect > leaseTtl - 1000)) {
      // At least two missed keepalives (sent every TTL/4); and etcd reports a lease's remaining
      // time in whole seconds, so anything closer to the TTL than 1s cannot be observed.
      ctx.addIssue({
        code: 'custom',
        path: ['timing', 'suspectAfter'],
        message: `must be between leaseTtl / 2 (${formatDurationMs(leaseTtl / 2)}: two missed keepalives) and leaseTtl - 1s (${formatDurationMs(leaseTtl - 1000)}), or off; got ${formatDurationMs(suspect)}`,
      });
    }
    const devices = cfg.fencing.devices;
    // Secrets never go into the cluster configuration: etcd keeps it readable to every role
    // (observers included) and `hactl config show` prints it. Fence agents read them from files.
    for (const [device, spec] of Object.entries(devices)) {
      for (const param of Object.keys(spec.params)) {
        if (INLINE_SECRET_RE.test(param)) {
          ctx.addIssue({
            code: 'custom',
            path: ['fencing', 'devices', device, 'params', param],
            message: `secrets are not stored in the cluster configuration (every etcd role can read it); put it in a file on each host and use ${param.replace(/(password|passwd|secret)$/i, 'password')}_file`,
          });
        }
      }
    }
    for (const [node, spec] of Object.entries(cfg.nodes ?? {})) {
      if (spec.fence && !(spec.fence in devices)) {
        ctx.addIssue({ code: 'custom', path: ['nodes', node, 'fence'], message: `no fence device named ${spec.fence} in fencing.devices` });
      }
    }
    const seenIds = new Map<string, string>();
    for (const [setName, set] of Object.entries(cfg.serviceSets)) {
      set.resources.forEach((r, i) => {
        const other = seenIds.get(r.id);
        if (other !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['serviceSets', setName, 'resources', i, 'id'], message: `resource id ${r.id} is already used in ${other} (ids are unique cluster-wide)` });
        }
        seenIds.set(r.id, `serviceSets.${setName}`);
      });
      if (cfg.nodes) {
        (set.prefer ?? []).forEach((n, i) => {
          if (!(n in cfg.nodes!)) {
            ctx.addIssue({ code: 'custom', path: ['serviceSets', setName, 'prefer', i], message: `unknown node ${n} (not in nodes)` });
          }
        });
      }
      if (set.mode === 'singleton' && set.instances !== undefined && set.instances !== 1) {
        ctx.addIssue({ code: 'custom', path: ['serviceSets', setName, 'instances'], message: 'only a clone set (mode: clone) can have more than one instance' });
      }
    }
  });

export type ClusterConfig = z.output<typeof ClusterConfigSchema>;
export type ServiceSetConfig = ClusterConfig['serviceSets'][string];
export type ResourceConfig = ServiceSetConfig['resources'][number];
export type ParamValue = z.output<typeof paramValue>;
export { BUILTIN_TYPES };

/**
 * The suspicion threshold of the fast fenced takeover in ms (`timing.suspectAfter`), or null when
 * it is off. The default, leaseTtl - 1s, is the most patient value etcd's whole-second remaining
 * time can express.
 */
export function suspectAfterMs(config: ClusterConfig): number | null {
  const v = config.timing.suspectAfter;
  if (v === 'off') return null;
  return v ?? config.timing.leaseTtl - 1000;
}

/** Whether a set needs its old owner fenced before an unplanned takeover (SPEC §3.2 `requireFencing`). */
export function setRequiresFencing(set: ServiceSetConfig): boolean {
  return set.requireFencing ?? set.resources.some((r) => EXCLUSIVE_TYPES.has(r.type));
}

/** A set's priority in a host's action queue (`priority`, default 0): higher starts first. */
export function setPriority(set: ServiceSetConfig): number {
  return set.priority ?? 0;
}

export function startTimeoutMs(r: ResourceConfig): number {
  return r.start.timeout ?? DEFAULT_ACTION_TIMEOUT_MS;
}
export function stopTimeoutMs(r: ResourceConfig): number {
  return r.stop.timeout ?? DEFAULT_ACTION_TIMEOUT_MS;
}
export function monitorIntervalMs(r: ResourceConfig): number {
  return r.monitor.interval ?? DEFAULT_MONITOR_INTERVAL_MS;
}
export function monitorTimeoutMs(r: ResourceConfig): number {
  return r.monitor.timeout ?? DEFAULT_ACTION_TIMEOUT_MS;
}

/**
 * The takeover grace of SPEC §5.3: after an *expiry* (not a handoff, not a confirmed fence) the new
 * owner waits this long before starting, because the old owner began stopping at
 * `validUntil - fenceMargin` and stops its resources one after another. SPEC §5.3 says "longest
 * stop timeout"; a sequential stop can take the SUM of the stop timeouts (found by the
 * simulator), so the sum is what is waited for.
 */
export function takeoverGraceMs(set: ServiceSetConfig, fenceMarginMs: number): number {
  const stopAllMs = set.resources.reduce((sum, r) => sum + stopTimeoutMs(r), 0);
  return Math.max(0, stopAllMs - fenceMarginMs);
}
