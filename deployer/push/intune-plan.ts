// The Intune side of "push is a plan, then an update": find this fleet's apps and macOS profiles by the
// Holdfast marker in their notes / description, compare content and settings hashes, and update in place
// (new content version on the same app; PATCH of a profile), keeping every assignment.
import { Buffer } from 'node:buffer';

import type { GraphBody } from '../../installers/intune/graph-app.js';
import {
  type GraphAssignment,
  type GraphSession,
  type IntuneContent,
  assignIntuneApp,
  assignIntuneProfile,
  commitIntuneApp,
  contentAppType,
  createIntuneApp,
  intuneAppAssignments,
  intuneProfileAssignments,
  pushIntuneProfile,
  updateIntuneProfile,
  uploadIntuneContent,
} from './graph.js';
import { type Marker, type PlanStep, type PushPlan, canonicalJson, formatMarker, makePlan, markerDifference, readMarker, sha256Hex } from './plan.js';

export interface IntuneAppInput {
  /** Marker object name: "windows-app", "macos-app". */
  object: string;
  kind: string;
  body: GraphBody;
  /** sha256 (hex) of the unencrypted content. */
  contentHash: string;
  /** The encrypted content; only called when an upload is due. */
  content(): Promise<IntuneContent>;
}

export interface IntunePlanInput {
  fleet: string;
  apps: IntuneAppInput[];
  /** macOSCustomConfiguration bodies. */
  profiles: GraphBody[];
  groupId?: string;
}

type Found = Record<string, unknown> & { id: string };

/** The group's assignment of an app or profile: unchanged when there, else assigned with the others kept. */
function assignmentStep(name: string, groupId: string, kept: GraphAssignment[], assign: () => Promise<void>): PlanStep {
  const assigned = kept.some((a) => a.target?.groupId === groupId);
  return {
    kind: 'assignment',
    name: `${name} -> group ${groupId}`,
    action: assigned ? 'unchanged' : 'create',
    ...(assigned && { id: groupId }),
    reason: assigned ? 'already assigned' : `not assigned yet${kept.length ? ` (the ${kept.length} other assignment(s) are kept)` : ''}`,
    run: async () => {
      await assign();
      return groupId;
    },
  };
}

/** Objects of this fleet in a listing, by marker object name (first one wins; the plan says when there are more). */
function byMarker(list: Array<Record<string, unknown>>, fleet: string, field: string): Map<string, Found[]> {
  const out = new Map<string, Found[]>();
  for (const o of list) {
    const m = readMarker(o[field]);
    if (m?.fleet !== fleet || typeof o.id !== 'string') continue;
    out.set(m.object, [...(out.get(m.object) ?? []), o as Found]);
  }
  return out;
}

function duplicates(found: Found[] | undefined): string {
  return found && found.length > 1
    ? ` (${found.length - 1} more with this fleet's marker left alone: ${found
        .slice(1)
        .map((f) => f.id)
        .join(', ')})`
    : '';
}

export async function planIntune(session: GraphSession, input: IntunePlanInput): Promise<PushPlan> {
  const { fleet, groupId } = input;
  const steps: PlanStep[] = [];
  const types = [...new Set(input.apps.map((a) => contentAppType(a.body)))];
  const listed: Array<Record<string, unknown>> = [];
  for (const t of types) listed.push(...(await session.list('find apps', `/deviceAppManagement/mobileApps?$filter=${encodeURIComponent(`isof('${t}')`)}`)));
  const apps = byMarker(listed, fleet, 'notes');

  for (const app of input.apps) {
    const type = contentAppType(app.body);
    const { notes: _n, ...settings } = app.body;
    const want: Marker = { fleet, object: app.object, content: app.contentHash, settings: sha256Hex(canonicalJson(settings)) };
    const name = String(app.body.displayName ?? app.object);
    const found = apps.get(app.object);
    const existing = found?.[0];
    let appId = existing?.id ?? '';
    const commitAll = async (id: string) => {
      const up = await uploadIntuneContent(session, id, type, await app.content());
      await commitIntuneApp(session, id, type, { ...settings, notes: formatMarker(want) }, up.contentVersionId);
    };
    if (!existing) {
      steps.push({
        kind: app.kind,
        name,
        action: 'create',
        reason: 'not found (no app with this fleet marker)',
        run: async () => {
          // The marker has no content hash until the content is committed: a push cut short is finished next time.
          appId = await createIntuneApp(session, { ...app.body, notes: formatMarker({ ...want, content: undefined }) });
          await commitAll(appId);
          return appId;
        },
      });
    } else {
      const marker = readMarker(existing.notes);
      const why = existing.committedContentVersion ? markerDifference(marker, want) : 'no committed content';
      const contentDue = !existing.committedContentVersion || marker?.content !== want.content;
      steps.push({
        kind: app.kind,
        name,
        id: appId,
        action: why ? 'update' : 'unchanged',
        reason: (why ?? 'same content and settings') + duplicates(found),
        run: async () => {
          if (contentDue) await commitAll(appId);
          else await commitIntuneApp(session, appId, type, { ...settings, notes: formatMarker(want) });
          return appId;
        },
      });
    }
    if (groupId) {
      const kept = existing ? await intuneAppAssignments(session, existing.id) : [];
      steps.push(assignmentStep(name, groupId, kept, () => assignIntuneApp(session, appId, groupId, kept)));
    }
  }

  const configurations = input.profiles.length ? await session.list('find profiles', '/deviceManagement/deviceConfigurations') : [];
  const profiles = byMarker(configurations, fleet, 'description');
  for (const body of input.profiles) {
    const object = `profile:${String(body.payloadFileName ?? body.displayName).replace(/[\s\]]/g, '_')}`;
    const { payload, description, ...rest } = body;
    const want: Marker = {
      fleet,
      object,
      content: sha256Hex(Buffer.from(String(payload), 'base64')),
      settings: sha256Hex(canonicalJson({ ...rest, description })),
    };
    const marked = { ...body, description: `${String(description ?? '')}\n${formatMarker(want)}`.trim() };
    const name = String(body.displayName ?? object);
    const found = profiles.get(object);
    const existing = found?.[0];
    let profileId = existing?.id ?? '';
    if (!existing) {
      steps.push({
        kind: 'macOS profile',
        name,
        action: 'create',
        reason: 'not found (no profile with this fleet marker)',
        run: async () => (profileId = (await pushIntuneProfile(marked, { ...session.options, groupId: undefined }, session)).id),
      });
    } else {
      const why = markerDifference(readMarker(existing.description), want);
      steps.push({
        kind: 'macOS profile',
        name,
        id: profileId,
        action: why ? 'update' : 'unchanged',
        reason: (why ?? 'same payload and settings') + duplicates(found),
        run: async () => {
          await updateIntuneProfile(session, profileId, marked);
          return profileId;
        },
      });
    }
    if (groupId) {
      const kept = existing ? await intuneProfileAssignments(session, existing.id) : [];
      steps.push(assignmentStep(name, groupId, kept, () => assignIntuneProfile(session, profileId, groupId, kept)));
    }
  }
  return makePlan('Microsoft Intune', fleet, session.dryRun, steps, () => session.http.retries.length);
}
