// queue-manager: flavor ibm-mq against fake strmqm/endmqm/dspmq that reproduce IBM's documented
// behaviour (there is no IBM MQ here), flavor command, and flavor activemq for real: persistent
// messages sent to the broker on host A (data on the shared disk, reached through the floating
// IP), the whole set moved to host B, every receipted message consumed on B.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, type IFrame, type IMessage } from '@stomp/stompjs';
import { TCPWrapper } from '@stomp/tcp-wrapper';
import {
  attachLoop,
  Cleanup,
  isRoot,
  killGroup,
  makeBridge,
  makeHost,
  makeTempDir,
  ocfTester,
  pidAlive,
  removeStaleNamespaces,
  run,
  runAgent,
  sh,
  type AgentCall,
  type NsHost,
} from '../lib/ra-harness.js';

const cleanup = new Cleanup();
let dir = '';
before(async () => {
  dir = await makeTempDir(cleanup, 'qm');
});
after(async () => {
  await cleanup.run();
});

async function script(path: string, body: string): Promise<string> {
  await writeFile(path, `#!/bin/bash\n${body}\n`);
  await chmod(path, 0o755);
  return path;
}

// ---- IBM MQ fakes -------------------------------------------------------------------------------
// State per queue manager in <bin>/state.<QM>. Output formats and exit codes follow IBM's docs:
// dspmq -m QM -o status prints "QMNAME(QM1)   STATUS(Running)"; an unknown QM gives AMQ7048E and
// exit 72. strmqm: 0 started, 5 already running, 16 not known. endmqm: 0 request accepted,
// 16 not known, 40 not available (already ended). endmqm -i ends immediately (the fake can be
// told to hang in Quiescing, as a stuck queue manager does); -p ends preemptively. Every call
// is appended to <bin>/calls.
async function makeFakeMq(bin: string): Promise<void> {
  await sh(['mkdir', '-p', bin]);
  await script(
    join(bin, 'dspmq'),
    `echo "dspmq $*" >> "\${0%/*}/calls"
qm=
while (($#)); do case $1 in -m) qm=$2; shift 2 ;; -o) shift 2 ;; *) shift ;; esac; done
st="\${0%/*}/state.$qm"
if [[ ! -f $st ]]; then echo "AMQ7048E: The queue manager name is either not valid or not known."; exit 72; fi
printf 'QMNAME(%s)%*sSTATUS(%s)\\n' "$qm" 42 '' "$(<"$st")"`,
  );
  await script(
    join(bin, 'strmqm'),
    `echo "strmqm $*" >> "\${0%/*}/calls"
qm=\${!#}; st="\${0%/*}/state.$qm"
[[ -f $st ]] || { echo "AMQ7048E: The queue manager name is either not valid or not known."; exit 16; }
[[ $(<"$st") == Running ]] && { echo "AMQ8041E: The queue manager '$qm' is already running."; exit 5; }
echo Starting > "$st"
( sleep 0.3; echo Running > "$st" ) >/dev/null 2>&1 &
echo "IBM MQ queue manager '$qm' starting."`,
  );
  await script(
    join(bin, 'endmqm'),
    `echo "endmqm $*" >> "\${0%/*}/calls"
mode=$1; qm=\${!#}; st="\${0%/*}/state.$qm"
[[ -f $st ]] || exit 16
case $(<"$st") in Ended*) echo "AMQ8146E: IBM MQ queue manager not available."; exit 40 ;; esac
if [[ $mode == -i && -f "\${0%/*}/hang.$qm" ]]; then echo Quiescing > "$st"; exit 0; fi
case $mode in -i) echo "Ended immediately" > "$st" ;; -p) echo "Ended preemptively" > "$st" ;; *) echo "Ended normally" > "$st" ;; esac
echo "IBM MQ queue manager '$qm' ending."`,
  );
}

void describe('queue-manager flavor ibm-mq (fake MQ commands)', () => {
  let bin = '';
  let call: AgentCall;
  before(async () => {
    bin = join(dir, 'mqm-bin');
    await makeFakeMq(bin);
    await writeFile(join(bin, 'state.QM1'), 'Ended normally\n');
    call = { instance: 'qm1', rsctmp: dir, params: { flavor: 'ibm-mq', name: 'QM1', mqBin: bin, stopTimeout: '1s' } };
  });
  const state = async (): Promise<string> => (await readFile(join(bin, 'state.QM1'), 'utf8')).trim();

  void it('passes ocf-tester', { skip: !isRoot() && 'ocf-tester needs root' }, async () => {
    const r = await ocfTester('queue-manager', 'hactl_ra_qm', { flavor: 'ibm-mq', name: 'QM1', mqBin: bin });
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  void it('start waits for STATUS(Running); stop uses endmqm -i', async () => {
    await writeFile(join(bin, 'calls'), '');
    assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, 7);
    const s = await runAgent('queue-manager', 'start', call);
    assert.equal(s.rc, 0, s.stderr);
    assert.ok(s.ms >= 250, `start returned after ${s.ms} ms, before Running`);
    assert.equal(await state(), 'Running');
    assert.equal((await runAgent('queue-manager', 'start', call)).rc, 0);
    assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, 0);
    const t = await runAgent('queue-manager', 'stop', call);
    assert.equal(t.rc, 0, t.stderr);
    assert.equal(await state(), 'Ended immediately');
    assert.equal((await runAgent('queue-manager', 'stop', call)).rc, 0);
    const calls = await readFile(join(bin, 'calls'), 'utf8');
    assert.match(calls, /^strmqm QM1$/m);
    assert.match(calls, /^endmqm -i QM1$/m);
    assert.doesNotMatch(calls, /endmqm -p/);
    assert.match(calls, /^dspmq -m QM1 -o status$/m);
  });

  void it('a queue manager stuck in endmqm -i is ended with endmqm -p after stopTimeout', async () => {
    await writeFile(join(bin, 'calls'), '');
    assert.equal((await runAgent('queue-manager', 'start', call)).rc, 0);
    await writeFile(join(bin, 'hang.QM1'), '');
    const t = await runAgent('queue-manager', 'stop', call);
    assert.equal(t.rc, 0, t.stderr);
    assert.ok(t.ms >= 900, `escalated after ${t.ms} ms (stopTimeout 1s)`);
    assert.equal(await state(), 'Ended preemptively');
    assert.match(await readFile(join(bin, 'calls'), 'utf8'), /endmqm -i QM1\n(.*\n)*endmqm -p QM1/);
    await sh(['rm', join(bin, 'hang.QM1')]);
  });

  void it('monitor maps dspmq states; an unknown queue manager is not configured here', async () => {
    const cases: [string, number][] = [
      ['Running', 0],
      ['Ended unexpectedly', 7],
      ['Running as standby', 7],
      ['Running elsewhere', 7],
      ['Quiescing', 1],
      ['Starting', 1],
    ];
    for (const [st, rc] of cases) {
      await writeFile(join(bin, 'state.QM1'), `${st}\n`);
      assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, rc, st);
    }
    await writeFile(join(bin, 'state.QM1'), 'Ended normally\n');
    const unknown = { ...call, params: { ...call.params, name: 'QM9' } };
    assert.equal((await runAgent('queue-manager', 'monitor', { ...unknown, intervalMs: 0 })).rc, 7, 'probe');
    const s = await runAgent('queue-manager', 'start', unknown);
    assert.equal(s.rc, 2);
    assert.match(s.reason ?? '', /QM9 is not known/);
  });
});

void describe('queue-manager flavor command', () => {
  void it('runs start/stop/status commands directly and waits for the status', async () => {
    const flag = join(dir, 'cmd-running');
    // The start command leaves a daemon behind (the usual init-script shape).
    const daemon = await script(join(dir, 'daemon.sh'), `touch ${flag}; while [[ -f ${flag} ]]; do sleep 0.05; done`);
    const start = await script(join(dir, 'start.sh'), `setsid ${daemon} </dev/null >/dev/null 2>&1 &\nexit 0`);
    const stop = await script(join(dir, 'stop.sh'), `rm -f ${flag}`);
    const status = await script(join(dir, 'status.sh'), `[[ -f ${flag} ]] && exit 0; exit 3`);
    const call: AgentCall = {
      instance: 'qmcmd',
      rsctmp: dir,
      params: { flavor: 'command', startCommand: start, stopCommand: stop, statusCommand: status, stopTimeout: '2s' },
    };
    if (isRoot()) {
      const r = await ocfTester('queue-manager', 'hactl_ra_qmcmd', call.params ?? {});
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, 7);
    assert.equal((await runAgent('queue-manager', 'start', call)).rc, 0);
    assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, 0);
    assert.equal((await runAgent('queue-manager', 'stop', call)).rc, 0);
    assert.equal((await runAgent('queue-manager', 'monitor', call)).rc, 7);
    // A status command that says "failed" (exit 1) is a failure, with its output as the reason.
    const broken = await script(join(dir, 'broken.sh'), `echo "disk on fire"; exit 1`);
    const m = await runAgent('queue-manager', 'monitor', { ...call, params: { ...call.params, statusCommand: broken } });
    assert.equal(m.rc, 1);
    assert.match(m.reason ?? '', /disk on fire/);
  });
});

// ---- ActiveMQ, for real ------------------------------------------------------------------------

const AMQ_JAR = '/usr/share/activemq/bin/activemq.jar';
const hasAmq = existsSync(AMQ_JAR);
const VIP = '10.231.0.50';
const STOMP_PORT = 61613;
const QUEUE = '/queue/hactl.ra.test';
const N = 40;

function stompClient(): Client {
  return new Client({
    webSocketFactory: () => new TCPWrapper(VIP, STOMP_PORT),
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    connectionTimeout: 5000,
  });
}

async function connect(c: Client): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('STOMP connect timed out')), 8000);
    c.onConnect = () => {
      clearTimeout(timer);
      resolve();
    };
    c.onStompError = (f: IFrame) => reject(new Error(`STOMP error: ${f.headers['message'] ?? ''}`));
    c.onWebSocketError = () => reject(new Error('STOMP socket error'));
    c.activate();
  });
}

/** Send N persistent messages, each with a receipt; return the bodies that were receipted. */
async function sendPersistent(n: number): Promise<string[]> {
  const c = stompClient();
  await connect(c);
  const receipted: string[] = [];
  try {
    const waits: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      const body = `msg-${i}`;
      const receipt = `r-${i}`;
      waits.push(
        new Promise<void>((resolve) => {
          c.watchForReceipt(receipt, () => {
            receipted.push(body);
            resolve();
          });
        }),
      );
      c.publish({ destination: QUEUE, body, headers: { persistent: 'true', receipt } });
    }
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, 10_000))]);
  } finally {
    await c.deactivate();
  }
  return receipted;
}

/** Consume until every wanted body arrived or timeoutMs passed; returns what arrived. */
async function consume(wanted: readonly string[], timeoutMs: number): Promise<Set<string>> {
  const c = stompClient();
  await connect(c);
  const got = new Set<string>();
  try {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      c.subscribe(
        QUEUE,
        (m: IMessage) => {
          got.add(m.body);
          m.ack();
          if (wanted.every((w) => got.has(w))) {
            clearTimeout(timer);
            resolve();
          }
        },
        { ack: 'client-individual' },
      );
    });
  } finally {
    await c.deactivate();
  }
  return got;
}

void describe('queue-manager flavor activemq: persistent messages survive a move A -> B', () => {
  const skipReason = !isRoot() ? 'needs root (namespaces, loop devices)' : false;
  let hostA: NsHost;
  let hostB: NsHost;
  let loopA = '';
  let loopB = '';
  let mnt = '';

  before(async () => {
    if (skipReason) return;
    await removeStaleNamespaces();
    const image = join(dir, 'amq.img');
    await sh(['truncate', '-s', '128M', image]);
    await sh(['mkfs.ext4', '-q', '-F', image]);
    mnt = join(dir, 'MQHA');
    await sh(['mkdir', '-p', mnt, join(dir, 'qa-run'), join(dir, 'qb-run')]);
    loopA = await attachLoop(cleanup, image);
    loopB = await attachLoop(cleanup, image);
    await makeBridge(cleanup);
    hostA = await makeHost(cleanup, 'qa', { v4: '10.231.0.21/24' });
    hostB = await makeHost(cleanup, 'qb', { v4: '10.231.0.22/24' });
    // Brokers are stopped by their recorded pid, before the hosts go away (LIFO).
    for (const run of ['qa-run', 'qb-run']) {
      cleanup.add(`kill broker of ${run}`, async () => {
        try {
          const pid = Number((await readFile(join(dir, run, 'amq.pid'), 'utf8')).split(' ')[0]);
          if (pid > 1) killGroup(pid, 'SIGKILL');
          await new Promise((r) => setTimeout(r, 200));
        } catch {
          /* not running */
        }
      });
    }
    cleanup.add('unmount in hosts', async () => {
      for (const h of [hostA, hostB]) await h.exec(['umount', mnt]);
    });
  });

  /** The service set on one host: disk, IP, broker (started in order, stopped in reverse). */
  function set(host: NsHost, loop: string, rundir: string, token: string): { id: string; type: string; call: AgentCall }[] {
    const base = { rsctmp: join(dir, rundir), host, fencingToken: token, timeoutMs: 30_000 };
    return [
      { id: 'disk', type: 'shared-disk', call: { ...base, instance: 'disk', params: { device: loop, directory: mnt, fstype: 'ext4' } } },
      { id: 'ip', type: 'floating-ip', call: { ...base, instance: 'ip', params: { ip: `${VIP}/24`, arpCount: '2' } } },
      {
        id: 'amq',
        type: 'queue-manager',
        call: {
          ...base,
          instance: 'amq',
          params: { flavor: 'activemq', dataDir: join(mnt, 'activemq'), listen: VIP, port: String(STOMP_PORT), heap: '128m', stopTimeout: '10s' },
        },
      },
    ];
  }

  async function startSet(s: ReturnType<typeof set>): Promise<void> {
    for (const r of s) {
      const res = await runAgent(r.type, 'start', r.call);
      assert.equal(res.rc, 0, `start ${r.id}: ${res.stderr}`);
      if (r.id === 'disk') await r.call.host?.sh(['mkdir', '-p', join(mnt, 'activemq')]);
    }
  }

  async function stopSet(s: ReturnType<typeof set>): Promise<void> {
    for (const r of [...s].reverse()) {
      const res = await runAgent(r.type, 'stop', r.call);
      assert.equal(res.rc, 0, `stop ${r.id}: ${res.stderr}`);
    }
  }

  void it('sends on A, moves the set, consumes everything on B', { skip: skipReason || (!hasAmq && 'activemq is not installed (apt-get install activemq)') }, async () => {
    const setA = set(hostA, loopA, 'qa-run', '100');
    const setB = set(hostB, loopB, 'qb-run', '101');
    const tA = performance.now();
    await startSet(setA);
    const amqA = setA[2];
    assert.ok(amqA);
    process.stdout.write(`# activemq: set started on A in ${(performance.now() - tA).toFixed(0)} ms\n`);
    assert.equal((await runAgent('queue-manager', 'monitor', amqA.call)).rc, 0);
    const brokerPid = Number((await readFile(join(dir, 'qa-run', 'amq.pid'), 'utf8')).split(' ')[0]);
    // the broker's data records the fencing token it started under (read by the chaos checker)
    const tokenFile = join(mnt, 'activemq', '.hactl-broker-token');
    assert.equal((await hostA.sh(['cat', tokenFile])).trim(), `100 ${hostA.name}`);

    const receipted = await sendPersistent(N);
    assert.equal(receipted.length, N, `all ${N} persistent messages receipted`);

    await stopSet(setA);
    assert.equal(await pidAlive(brokerPid), false, 'broker on A stopped');
    assert.equal((await runAgent('queue-manager', 'monitor', amqA.call)).rc, 7);

    const tB = performance.now();
    await startSet(setB);
    process.stdout.write(`# activemq: set started on B in ${(performance.now() - tB).toFixed(0)} ms\n`);
    assert.equal((await hostB.sh(['cat', tokenFile])).trim(), `101 ${hostB.name}`);
    const got = await consume(receipted, 15_000);
    const lost = receipted.filter((m) => !got.has(m));
    assert.deepEqual(lost, [], 'every receipted persistent message is delivered on B');
    await stopSet(setB);
    // The broker's generated config lives in HA_RSCTMP (host-local), its data on the disk.
    const conf = await readFile(join(dir, 'qb-run', 'amq.activemq', 'activemq.xml'), 'utf8');
    assert.match(conf, /kahaDB directory="\$\{activemq.data\}\/kahadb"/);
  });

  void it('passes ocf-tester (activemq flavor)', { skip: skipReason || (!hasAmq && 'activemq is not installed (apt-get install activemq)') }, async () => {
    const data = join(dir, 'amq-ocf-data');
    await sh(['mkdir', '-p', data]);
    cleanup.add('kill the ocf-tester broker', async () => {
      try {
        const pid = Number((await readFile('/run/hactl/hactl_ra_amq.pid', 'utf8')).split(' ')[0]);
        if (pid > 1) killGroup(pid, 'SIGKILL');
      } catch {
        /* stopped, as it should be */
      }
      await run(['rm', '-rf', '/run/hactl/hactl_ra_amq.activemq', '/run/hactl/hactl_ra_amq.log']);
    });
    const r = await ocfTester('queue-manager', 'hactl_ra_amq', { flavor: 'activemq', dataDir: data, listen: '127.0.0.1', port: '61699', heap: '128m' }, hostA);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const left = await run(['cat', '/run/hactl/hactl_ra_amq.pid']);
    assert.notEqual(left.code, 0, 'no broker left behind');
  });
});

