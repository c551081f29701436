// What the host agent picks up without a restart, watched with chokidar (inotify: no polling, no
// cost while nothing changes):
//  - its own agent.yaml: `log.level` and `resourceDirs` take effect at once. The file is validated
//    with the same parser as at start-up; a file that does not parse or validate is refused with
//    one log line naming the problem, and the settings in use stay. Fields that only take effect at
//    start-up (node, cluster, etcd, dataDir, ocfRoot, http, watchdog, actionLimit) are logged as needing a
//    restart and ignored.
//  - the agent files in `resourceDirs`: a new, changed (also chmod/chown) or removed file makes the
//    agent resolve that type again before its next action, and a file that fails the safety checks
//    (resolve.ts: owner, group/other-writable, executable) is refused with the reason in the log;
//    a set that then uses it shows the same reason in its status.
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { loadHostConfig, type HostConfig } from '../config/host-config.js';
import { agentFileProblem } from '../ocf/resolve.js';
import type { Logger } from './log.js';

/** Fields of agent.yaml read only at start-up. */
const RESTART_FIELDS = ['node', 'cluster', 'etcd', 'dataDir', 'ocfRoot', 'http', 'watchdog', 'actionLimit'] as const;
/** Editors write a file in several steps: act once it has been quiet this long. */
const SETTLE_MS = 150;

export interface ReloadHooks {
  /** Forget every resolved agent (the resource directories changed). */
  forgetAgents(): void;
  /** Forget the resolved agent of type `name` (its file in a resource directory changed). */
  forgetAgent(name: string): void;
}

export class HostConfigReloader {
  private configWatcher: FSWatcher | undefined;
  private dirWatcher: FSWatcher | undefined;
  /** The file as last accepted: what "changed" is measured against (CLI flags are not in it). */
  private accepted: HostConfig | undefined;
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private closed = false;

  /**
   * `live` is the configuration object the running agent reads: its `log.level` and
   * `resourceDirs` are updated in place.
   */
  constructor(
    private readonly path: string,
    private readonly live: HostConfig,
    private readonly log: Logger,
    private readonly hooks: ReloadHooks,
  ) {}

  async start(): Promise<void> {
    this.accepted = await loadHostConfig(this.path, true).catch(() => undefined);
    this.configWatcher = watch(this.path, { ignoreInitial: true, persistent: false });
    this.configWatcher.on('all', () => this.settle('config', () => this.reloadConfig()));
    this.configWatcher.on('error', (err) => this.log.warn({ path: this.path, err: String(err) }, 'cannot watch the host configuration'));
    await this.watchDirs(this.live.resourceDirs);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.all([this.configWatcher?.close(), this.dirWatcher?.close()]);
  }

  private settle(key: string, fn: () => Promise<void>): void {
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        if (!this.closed) void fn();
      }, SETTLE_MS),
    );
  }

  private async reloadConfig(): Promise<void> {
    let next: HostConfig;
    try {
      next = await loadHostConfig(this.path, true);
    } catch (err) {
      this.log.error({ path: this.path, reason: err instanceof Error ? err.message : String(err) }, 'host configuration refused; the settings in use stay');
      return;
    }
    const before = this.accepted;
    this.accepted = next;
    if (before) {
      const fields = RESTART_FIELDS.filter((f) => JSON.stringify(before[f]) !== JSON.stringify(next[f]));
      if (fields.length > 0) this.log.warn({ path: this.path, fields }, 'host configuration change needs a restart; ignored until then');
    }
    const changed: string[] = [];
    if (next.log.level !== this.live.log.level) {
      this.live.log.level = next.log.level;
      this.log.level = next.log.level;
      changed.push('log.level');
    }
    if (JSON.stringify(next.resourceDirs) !== JSON.stringify(this.live.resourceDirs)) {
      this.live.resourceDirs = next.resourceDirs;
      this.hooks.forgetAgents();
      await this.watchDirs(next.resourceDirs);
      changed.push('resourceDirs');
    }
    this.log.info({ path: this.path, changed, level: next.log.level, resourceDirs: next.resourceDirs }, 'host configuration reloaded');
  }

  /** Watches `dirs` (instead of the ones before); resolves once changes there are reported. */
  private async watchDirs(dirs: string[]): Promise<void> {
    void this.dirWatcher?.close();
    this.dirWatcher = undefined;
    if (dirs.length === 0) return;
    const watched = new Set(dirs.map((d) => resolvePath(d)));
    const w = watch(dirs, { ignoreInitial: true, persistent: false, depth: 0 });
    const onFile = (file: string): void => {
      if (!watched.has(dirname(file))) return;
      this.settle(`file:${file}`, () => this.checkAgentFile(file));
    };
    w.on('add', onFile).on('change', onFile).on('unlink', onFile);
    // chokidar reports no `change` when only the mode or owner changed (it compares times), yet a
    // chmod g+w is what makes an agent unsafe: the raw inotify event catches it.
    w.on('raw', (event, name, details) => {
      const watchedPath = (details as { watchedPath?: string } | undefined)?.watchedPath;
      const dir = watchedPath ? resolvePath(watchedPath) : undefined;
      if (event === 'change' && dir && watched.has(dir) && name) onFile(join(dir, basename(name)));
    });
    w.on('error', (err) => this.log.warn({ resourceDirs: dirs, err: String(err) }, 'cannot watch the resource directories'));
    this.dirWatcher = w;
    await new Promise<void>((ready) => w.once('ready', ready));
  }

  private async checkAgentFile(file: string): Promise<void> {
    const name = basename(file);
    this.hooks.forgetAgent(name);
    const problem = await agentFileProblem(file);
    if (problem === null) this.log.info({ path: file, type: name }, 'resource agent picked up');
    else if (problem.startsWith('not found')) this.log.info({ path: file, type: name }, 'resource agent removed');
    else this.log.error({ path: file, type: name, reason: problem }, 'resource agent refused');
  }
}
