// The Jamf Pro objects a push writes, in one place: their names (all carry the fleet id, the marker a push finds
// them by), the Classic API XML of profiles and policies, the reading of that XML back for change detection,
// and the uninstall script as Jamf runs it.
import { DOMParser, type Element } from '@xmldom/xmldom';

import { xmlEscape } from '../../common/xml.js';

/** Every name a push gives a Jamf object of one fleet. */
export function jamfNames(product: string, fleet: string) {
  const base = `${product} (${fleet})`;
  return {
    package: base,
    profile: (file: string) => `${base} – ${file.replace(/\.mobileconfig$/, '')}`,
    installPolicy: `Install ${base}`,
    uninstallPolicy: `Uninstall ${base}`,
    uninstallScript: `Uninstall ${base}`,
    installTrigger: `holdfast-${fleet}`,
    uninstallTrigger: `holdfast-${fleet}-uninstall`,
  };
}

function groupsXml(ids: string[]): string {
  const groups = ids.map((id) => `<computer_group><id>${xmlEscape(id, 'Jamf computer group id')}</id></computer_group>`);
  return `<computer_groups>${groups.join('')}</computer_groups>`;
}

function scopeXml(groupIds: string[], excludedGroupIds: string[] = []): string {
  return `<scope><all_computers>false</all_computers>${groupsXml(groupIds)}<exclusions>${groupsXml(excludedGroupIds)}</exclusions></scope>`;
}

export function profileXml(name: string, description: string, mobileconfig: string, groupId: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<os_x_configuration_profile>',
    `<general><name>${xmlEscape(name, 'Jamf profile name')}</name>`,
    `<description>${xmlEscape(description, 'Jamf profile description')}</description>`,
    '<distribution_method>Install Automatically</distribution_method><level>System</level>',
    `<payloads>${xmlEscape(mobileconfig, 'Jamf profile payload (the .mobileconfig)')}</payloads></general>`,
    scopeXml([groupId]),
    '</os_x_configuration_profile>',
  ].join('');
}

/** A policy as the push writes it and as it reads one back (the fields it compares). */
export interface JamfPolicy {
  name: string;
  enabled: boolean;
  triggerCheckin: boolean;
  trigger: string;
  frequency: string;
  groupIds: string[];
  excludedGroupIds: string[];
  packages: Array<{ id: string; action: string }>;
  scripts: Array<{ id: string; priority: string; parameter4: string }>;
  recon: boolean;
}

export function policyXml(p: JamfPolicy): string {
  const packages = p.packages
    .map((k) => `<package><id>${xmlEscape(k.id, 'Jamf package id')}</id><action>${xmlEscape(k.action, 'Jamf package action')}</action></package>`)
    .join('');
  const scripts = p.scripts
    .map(
      (s) =>
        `<script><id>${xmlEscape(s.id, 'Jamf script id')}</id><priority>${xmlEscape(s.priority, 'Jamf script priority')}</priority>` +
        `<parameter4>${xmlEscape(s.parameter4, 'Jamf script parameter 4')}</parameter4></script>`,
    )
    .join('');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<policy>',
    `<general><name>${xmlEscape(p.name, 'Jamf policy name')}</name><enabled>${p.enabled}</enabled>`,
    `<trigger_checkin>${p.triggerCheckin}</trigger_checkin><trigger_other>${xmlEscape(p.trigger, 'Jamf policy trigger')}</trigger_other>`,
    `<frequency>${xmlEscape(p.frequency, 'Jamf policy frequency')}</frequency></general>`,
    scopeXml(p.groupIds, p.excludedGroupIds),
    `<package_configuration><packages><size>${p.packages.length}</size>${packages}</packages></package_configuration>`,
    `<scripts><size>${p.scripts.length}</size>${scripts}</scripts>`,
    `<maintenance><recon>${p.recon}</recon></maintenance>`,
    '</policy>',
  ].join('');
}

const kids = (el: Element | undefined, name: string): Element[] =>
  el ? Array.from(el.childNodes).filter((n): n is Element => n.nodeType === 1 && (n as Element).tagName === name) : [];
const kid = (el: Element | undefined, name: string): Element | undefined => kids(el, name)[0];
const text = (el: Element | undefined, name: string): string => kid(el, name)?.textContent?.trim() ?? '';
const groupIds = (el: Element | undefined): string[] =>
  kids(kid(el, 'computer_groups'), 'computer_group')
    .map((g) => text(g, 'id'))
    .sort();

function parseRoot(xml: string, root: string): Element {
  const doc = new DOMParser({ onError: () => {} }).parseFromString(xml, 'text/xml');
  const el = doc.documentElement as unknown as Element | null;
  if (!el || el.tagName !== root) throw new Error(`Jamf Pro: expected a <${root}> document, got ${el ? `<${el.tagName}>` : 'no XML'}`);
  return el;
}

/** What a Classic API policy document holds, in the shape policyXml writes. */
export function readPolicyXml(xml: string): JamfPolicy & { id: string } {
  const root = parseRoot(xml, 'policy');
  const general = kid(root, 'general');
  const scope = kid(root, 'scope');
  return {
    id: text(general, 'id'),
    name: text(general, 'name'),
    enabled: text(general, 'enabled') === 'true',
    triggerCheckin: text(general, 'trigger_checkin') === 'true',
    trigger: text(general, 'trigger_other'),
    frequency: text(general, 'frequency'),
    groupIds: groupIds(scope),
    excludedGroupIds: groupIds(kid(scope, 'exclusions')),
    packages: kids(kid(kid(root, 'package_configuration'), 'packages'), 'package').map((p) => ({ id: text(p, 'id'), action: text(p, 'action') })),
    scripts: kids(kid(root, 'scripts'), 'script').map((s) => ({ id: text(s, 'id'), priority: text(s, 'priority'), parameter4: text(s, 'parameter4') })),
    recon: text(kid(root, 'maintenance'), 'recon') === 'true',
  };
}

/** The parts of a Classic API profile document a push compares: id, description (with the marker), scope. */
export function readProfileXml(xml: string): { id: string; description: string; groupIds: string[] } {
  const root = parseRoot(xml, 'os_x_configuration_profile');
  const general = kid(root, 'general');
  return { id: text(general, 'id'), description: kid(general, 'description')?.textContent ?? '', groupIds: groupIds(kid(root, 'scope')) };
}

/** Where Jamf's policy fields differ from the wanted ones, in words; empty when they match. */
export function policyDifferences(found: JamfPolicy, want: JamfPolicy): string[] {
  const norm = (p: JamfPolicy) => ({
    enabled: p.enabled,
    'check-in trigger': p.triggerCheckin,
    'custom trigger': p.trigger,
    frequency: p.frequency,
    scope: [...p.groupIds].sort().join(','),
    exclusions: [...p.excludedGroupIds].sort().join(','),
    packages: p.packages.map((k) => `${k.id}:${k.action}`).join(','),
    scripts: p.scripts.map((s) => `${s.id}:${s.priority}:${s.parameter4}`).join(','),
    inventory: p.recon,
  });
  const a = norm(found);
  const b = norm(want);
  return (Object.keys(b) as Array<keyof typeof b>).filter((k) => a[k] !== b[k]).map((k) => k);
}

/**
 * The uninstall script as a Jamf policy runs it: Jamf passes the target volume, the computer name and the user
 * as $1-$3 and the admin's parameters from $4; the script takes its options ("--purge") as arguments, so
 * parameter 4 becomes its only argument.
 */
export function jamfUninstallScript(script: string): string {
  const lines = script.split('\n');
  const shebang = lines[0].startsWith('#!') ? [lines.shift()!] : ['#!/bin/sh'];
  return [
    ...shebang,
    '# Jamf Pro: $1-$3 are the target volume, computer name and user; parameter 4 carries the options (--purge or nothing).',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, not a template
    'set -- ${4:+"$4"}',
    ...lines,
  ].join('\n');
}
