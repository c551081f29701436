// A bare ActiveMQ launcher for the testbed's own self-tests (the workload is checked against a real
// broker without the hactl agent or the queue-manager resource agent). KahaDB on the given data
// directory (the shared disk), one STOMP connector, journal fsync before receipts.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { Host } from './testbed.js';
import { waitFor, signalPid, pidAlive } from './exec.js';

const XML = `<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <bean class="org.springframework.beans.factory.config.PropertyPlaceholderConfigurer"/>
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="hactlcx" useJmx="false" persistent="true"
          advisorySupport="false" schedulerSupport="false" dataDirectory="\${activemq.data}">
    <persistenceAdapter><kahaDB directory="\${activemq.data}/kahadb" enableJournalDiskSyncs="true"/></persistenceAdapter>
    <systemUsage><systemUsage>
      <memoryUsage><memoryUsage limit="64 mb"/></memoryUsage>
      <storeUsage><storeUsage limit="40 mb"/></storeUsage>
      <tempUsage><tempUsage limit="20 mb"/></tempUsage>
    </systemUsage></systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://\${hactlcx.addr}:\${hactlcx.port}?transport.closeAsync=false"/>
    </transportConnectors>
  </broker>
</beans>
`;

const LOG4J = `log4j.rootLogger=WARN, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=%d %-5p %c{1} - %m%n
`;

export interface BrokerOptions {
  dataDir: string;
  addr: string;
  port?: number;
}

/** Start ActiveMQ inside `host` (detached, child of the host's init) and wait for the STOMP port. */
export async function startBroker(host: Host, o: BrokerOptions, timeoutMs = 20_000): Promise<number> {
  const conf = join(host.stateDir, 'amq-conf');
  await mkdir(conf, { recursive: true });
  await writeFile(join(conf, 'activemq.xml'), XML);
  await writeFile(join(conf, 'log4j.properties'), LOG4J);
  const port = o.port ?? 61613;
  await host.execOk(['mkdir', '-p', join(o.dataDir, 'tmp')]);
  const argv = [
    '/usr/bin/java', '-Xms32m', '-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.awt.headless=true', `-Djava.io.tmpdir=${join(o.dataDir, 'tmp')}`,
    '--add-reads=java.xml=java.logging',
    ...['java.base/java.security', 'java.base/java.net', 'java.base/java.lang', 'java.base/java.util', 'java.naming/javax.naming.spi', 'java.rmi/sun.rmi.transport.tcp', 'java.base/java.util.concurrent', 'java.base/java.util.concurrent.atomic'].flatMap((p) => ['--add-opens', `${p}=ALL-UNNAMED`]),
    `-Dactivemq.classpath=${conf}`, '-Dactivemq.home=/usr/share/activemq', `-Dactivemq.base=${o.dataDir}`, `-Dactivemq.conf=${conf}`, `-Dactivemq.data=${o.dataDir}`,
    `-Dlog4j.configuration=file:${conf}/log4j.properties`, `-Dhactlcx.addr=${o.addr}`, `-Dhactlcx.port=${port}`,
    '-jar', '/usr/share/activemq/bin/activemq.jar', 'start', `xbean:file:${conf}/activemq.xml`,
  ];
  await host.spawnDaemon(argv, join(host.stateDir, 'activemq.log'));
  await waitFor(`ActiveMQ on ${host.name} listening`, () => tcpOpen(o.addr, port, host), timeoutMs, 200);
  const pid = (await host.pidsOf((_c, comm) => comm === 'java'))[0] ?? 0;
  return pid;
}

/** SIGKILL the broker (a crash), or SIGTERM and wait (a clean stop). */
export async function stopBroker(host: Host, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const pid of await host.pidsOf((_c, comm) => comm === 'java')) {
    signalPid(pid, sig);
    await waitFor('broker exit', async () => !(await pidAlive(pid)), 15_000, 50).catch(() => signalPid(pid, 'SIGKILL'));
  }
}

/** TCP connect from inside the host's netns would need nsenter; the bridge reaches it from outside. */
function tcpOpen(addr: string, port: number, _host: Host): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: addr, port, timeout: 500 });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
    s.on('timeout', () => done(false));
  });
}
