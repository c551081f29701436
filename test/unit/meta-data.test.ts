// The OCF meta-data parser: real agents' output (built-ins and Debian's), and malformed input
// that must give an error value, never an exception.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ocfDurationMs, parseMetaData, parseXml, XmlError } from '../../agent/ocf/meta-data.js';
import { resourcesDir } from '../lib/paths.js';

const SAMPLE = `<?xml version="1.0"?>
<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">
<!-- a comment -->
<resource-agent name="sample" version="1.0">
<version>1.1</version>
<longdesc lang="en">
Keeps   a thing &lt;running&gt; &amp; watches it.
</longdesc>
<shortdesc lang="de">Beispiel</shortdesc>
<shortdesc lang="en">Sample agent</shortdesc>
<parameters>
<parameter name="ip" unique="1" required="1">
<longdesc lang="en"><![CDATA[The address, e.g. <10.0.0.1/24>.]]></longdesc>
<shortdesc lang="en">Address</shortdesc>
<content type="string" default="" />
</parameter>
<parameter name='mode' required="0">
<longdesc lang="en">How.</longdesc>
<shortdesc lang="en">Mode</shortdesc>
<content type="select" default="fast"><option value="fast"/><option value="safe"/></content>
</parameter>
<parameter name="old" deprecated="true">
<shortdesc lang="en">Old &#34;name&#x22;</shortdesc>
<content type="integer" default="5"/>
</parameter>
</parameters>
<actions>
<action name="start" timeout="20s" />
<action name="monitor" timeout="30" interval="10s" depth="0"/>
<action name="stop" timeout="2m"/>
</actions>
</resource-agent>
`;

void describe('parseMetaData', () => {
  void it('reads descriptions, parameters and actions', () => {
    const r = parseMetaData(SAMPLE);
    assert.ok(r.ok, r.ok ? '' : r.error);
    const m = r.meta;
    assert.equal(m.name, 'sample');
    assert.equal(m.version, '1.1');
    assert.equal(m.shortdesc, 'Sample agent', 'the English one');
    assert.equal(m.longdesc, 'Keeps a thing <running> & watches it.');
    assert.deepEqual(
      m.parameters.map((p) => [p.name, p.required, p.unique, p.type, p.default]),
      [
        ['ip', true, true, 'string', ''],
        ['mode', false, false, 'select', 'fast'],
        ['old', false, false, 'integer', '5'],
      ],
    );
    assert.equal(m.parameters[0].longdesc, 'The address, e.g. <10.0.0.1/24>.');
    assert.deepEqual(m.parameters[1].options, ['fast', 'safe']);
    assert.equal(m.parameters[2].deprecated, true);
    assert.equal(m.parameters[2].shortdesc, 'Old "name"');
    assert.deepEqual(
      m.actions.map((a) => [a.name, a.timeoutMs, a.intervalMs, a.depth]),
      [
        ['start', 20_000, undefined, undefined],
        ['monitor', 30_000, 10_000, 0],
        ['stop', 120_000, undefined, undefined],
      ],
    );
  });

  void it('every built-in agent has parseable meta-data naming itself, with its required parameters', () => {
    const required: Record<string, string[]> = { 'floating-ip': ['ip'], 'shared-disk': ['device', 'directory'], 'queue-manager': ['flavor'], process: ['command'], dummy: [] };
    for (const [agent, want] of Object.entries(required)) {
      const out = spawnSync(join(resourcesDir, agent), ['meta-data'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      const r = parseMetaData(out.stdout);
      assert.ok(r.ok, `${agent}: ${r.ok ? '' : r.error}`);
      assert.equal(r.meta.name, agent);
      assert.deepEqual(r.meta.parameters.filter((p) => p.required).map((p) => p.name), want, agent);
      assert.ok(r.meta.actions.some((a) => a.name === 'start' && a.timeoutMs !== undefined), `${agent} start timeout`);
    }
  });

  const heartbeat = '/usr/lib/ocf/resource.d/heartbeat';
  void it("Debian's heartbeat agents parse", { skip: !existsSync(heartbeat) && 'resource-agents not installed' }, () => {
    for (const agent of ['IPaddr2', 'Filesystem', 'Dummy']) {
      const out = spawnSync(join(heartbeat, agent), ['meta-data'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', OCF_ROOT: '/usr/lib/ocf' } });
      const r = parseMetaData(out.stdout);
      assert.ok(r.ok, `${agent}: ${r.ok ? '' : r.error}`);
      assert.equal(r.meta.name, agent);
      assert.ok(r.meta.shortdesc.length > 0);
    }
    const fs = parseMetaData(spawnSync(join(heartbeat, 'Filesystem'), ['meta-data'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', OCF_ROOT: '/usr/lib/ocf' } }).stdout);
    assert.ok(fs.ok);
    assert.deepEqual(fs.meta.parameters.filter((p) => p.required).map((p) => p.name).sort(), ['device', 'directory', 'fstype']);
  });

  void it('malformed input is an error value naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['', /no root element/],
      ['not xml', /no root element|expected/],
      ['<resource-agent name="x"><parameters></resource-agent>', /closes <parameters>/],
      ['<resource-agent name="x">', /not closed/],
      ['<resource-agent name=x/>', /not quoted/],
      ['<resource-agent name="x">&bogus;</resource-agent>', /unknown entity/],
      ['<resource-agent/><extra/>', /after the root/],
      ['<other/>', /not <resource-agent>/],
      ['<resource-agent><!-- never closed', /unterminated comment/],
    ];
    for (const [xml, want] of cases) {
      const r = parseMetaData(xml);
      assert.equal(r.ok, false, xml);
      if (!r.ok) assert.match(r.error, want, xml);
    }
    assert.throws(() => parseXml('<a>'), XmlError);
    assert.throws(() => parseXml('<a>'.repeat(100) + '</a>'.repeat(100)), /nested too deeply/);
  });

  void it('tolerates missing sections', () => {
    const r = parseMetaData('<resource-agent name="bare"/>');
    assert.ok(r.ok);
    assert.deepEqual(r.meta.parameters, []);
    assert.deepEqual(r.meta.actions, []);
    assert.equal(r.meta.shortdesc, '');
  });
});

void describe('ocfDurationMs', () => {
  void it('reads the units agents write', () => {
    assert.equal(ocfDurationMs('20s'), 20_000);
    assert.equal(ocfDurationMs('20'), 20_000);
    assert.equal(ocfDurationMs('500ms'), 500);
    assert.equal(ocfDurationMs('2m'), 120_000);
    assert.equal(ocfDurationMs('2min'), 120_000);
    assert.equal(ocfDurationMs('1h'), 3_600_000);
    assert.equal(ocfDurationMs('soon'), undefined);
    assert.equal(ocfDurationMs(undefined), undefined);
  });
});
