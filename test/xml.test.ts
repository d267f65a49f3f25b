// common/xml.ts, the one XML escaper: entities for & < > " ', a clear error naming the field for characters XML 1.0
// cannot carry (never silently dropped), comments without "--"; and every XML writer follows that rule.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { checkXmlValues, xmlComment, xmlEscape, xmlUnescape, XmlValueError } from '../common/xml.js';
import { renderGpoFiles } from '../deployer/targets/gpo.js';
import { policyXml, profileXml } from '../deployer/push/jamf.js';
import { parseFleet } from '../fleet/load.js';
import { parseDetectionXml, renderDetectionXml, type ApplicationInfo } from '../installers/intune/detection-xml.js';
import { render } from '../installers/mac/templates.js';
import { repoRoot } from './helpers/paths.js';

const info: ApplicationInfo = {
  name: `Smith & O'Neil <Backup> "1"`,
  unencryptedContentSize: 10,
  fileName: 'IntunePackage.intunewin',
  setupFile: 'holdfast-acme.msi',
  encryptionInfo: {
    encryptionKey: 'a2V5',
    macKey: 'bWFj',
    initializationVector: 'aXY=',
    mac: 'bWFj',
    profileIdentifier: 'ProfileVersion1',
    fileDigest: 'ZGln',
    fileDigestAlgorithm: 'SHA256',
  },
};

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

describe('common/xml', () => {
  it('escapes the five markup characters and round-trips through xmlUnescape', () => {
    const hostile = `a & b < c > d "e" 'f' ]]> \t\r\n ü 😀`;
    const escaped = xmlEscape(hostile, 'customer');
    expect(escaped).toBe(`a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos; ]]&gt; \t\r\n ü 😀`);
    expect(xmlUnescape(escaped)).toBe(hostile);
    expect(xmlUnescape('&#x41;&#66;')).toBe('AB');
  });

  it('refuses what XML 1.0 cannot carry, naming the field and the character but not the value', () => {
    for (const [bad, code] of [
      ['secret\u0001value', 'U+0001'],
      ['\u001b[31m', 'U+001B'],
      ['x\uffffy', 'U+FFFF'],
      ['lone \ud800 surrogate', 'U+D800'],
    ] as const) {
      const err = thrown(() => xmlEscape(bad, 'Jamf profile name'));
      expect(err).toBeInstanceOf(XmlValueError);
      expect(err.message).toContain('Jamf profile name: control characters are not allowed in XML');
      expect(err.message).toContain(code);
      expect(err.message).not.toContain(bad);
    }
    expect(() => xmlComment('a\u0007', 'fleet')).toThrow(/^fleet: control characters/);
  });

  it('comments stay one line and never hold "--"', () => {
    expect(xmlComment('x--y-\nz', 'fleet')).toBe('x- -y- z');
    expect(xmlComment('a--', 'f')).not.toMatch(/--/);
    expect(xmlComment('a-', 'f')).toBe('a- ');
  });

  it('checkXmlValues names the path of a bad value in a template context', () => {
    expect(() => checkXmlValues({ registration: { primary: '1.2.3.4:1' }, days: ['mon', 'tue\u0000'] }, 'policy.adml.hbs')).toThrow(
      /^policy\.adml\.hbs: days\[1\]: control characters are not allowed in XML/,
    );
    expect(() => checkXmlValues({ a: { b: 'ok', c: 3, d: null } }, 't')).not.toThrow();
  });
});

describe('every XML writer follows the rule', () => {
  it('Intune Detection.xml: escaped values round-trip; a control character stops the build naming the element (was: dropped)', () => {
    const xml = renderDetectionXml(info);
    expect(parseDetectionXml(xml).name).toBe(info.name);
    expect(() => renderDetectionXml({ ...info, name: 'ACME\u0008 Backup' })).toThrow(/^Detection\.xml <Name>: control characters are not allowed/);
  });

  it('Jamf API bodies: well-formed with hostile names; a control character is refused, not dropped', () => {
    const body = profileXml(`A&B <"x">`, 'd', '<?xml version="1.0"?><plist/>', '7');
    expect(() => execFileSync('xmllint', ['--noout', '-'], { input: body })).not.toThrow();
    expect(body).toContain('<name>A&amp;B &lt;&quot;x&quot;&gt;</name>');
    expect(body).toContain('<payloads>&lt;?xml version=&quot;1.0&quot;?&gt;&lt;plist/&gt;</payloads>');
    expect(() =>
      policyXml({
        name: 'Install\u0001',
        enabled: true,
        triggerCheckin: true,
        trigger: 't',
        frequency: 'Once per computer',
        groupIds: ['2'],
        excludedGroupIds: [],
        packages: [{ id: '1', action: 'Install' }],
        scripts: [],
        recon: true,
      }),
    ).toThrow(/^Jamf policy name: control characters/);
  });

  it('pkg templates and GPO ADMX/ADML name the context value that cannot go into XML', async () => {
    await expect(
      render('Distribution.xml.hbs', { title: 'T\u000b', identifier: 'a', minOs: '11', version: '1', component: 'c', installKBytes: 1 }),
    ).rejects.toThrow(/^Distribution\.xml\.hbs: title: control characters are not allowed in XML/);
    // The schema stops control characters in a fleet file; a Fleet built in code meets the same rule at render time.
    const fleet = parseFleet(readFileSync(join(repoRoot, 'examples/fleets/acme.fleet.json'), 'utf8'), 'acme.fleet.json');
    expect(() => renderGpoFiles({ ...fleet, customer: 'ACME\u0007' })).toThrow(/^gpo\/policy\.admx\.hbs: customer: control characters are not allowed in XML/);
    const files = renderGpoFiles({ ...fleet, customer: `Smith & O'Neil <UK>` });
    const adml = Object.entries(files).find(([n]) => n.endsWith('.adml'))![1];
    expect(adml).toContain('<displayName>ACME Backup (Smith &amp; O&apos;Neil &lt;UK&gt;)</displayName>');
  });
});
