// A push is a plan, then an update: find what the service already holds for this fleet, decide per object
// whether to create, update or leave it, show that, then apply. The CLI and the extension both go through
// PushPlan (compute, show, confirm, apply); nothing else decides what to write.
import { createHash } from 'node:crypto';

export type PlanAction = 'create' | 'update' | 'unchanged';

export interface PlanItem {
  /** What kind of object ("Win32 app", "policy"). */
  kind: string;
  name: string;
  action: PlanAction;
  /** The service's id of the object found (update, unchanged). */
  id?: string;
  /** Why this action: "not found", "content changed", "same content and settings". */
  reason: string;
}

/** A plan item and how to carry it out; `run` returns the object's id after the change. */
export interface PlanStep extends PlanItem {
  run(): Promise<string>;
}

export interface AppliedItem extends PlanItem {
  id: string;
}

export interface PushOutcome {
  items: AppliedItem[];
  retries: number;
}

export interface PushPlan {
  service: 'Microsoft Intune' | 'Jamf Pro';
  fleet: string;
  items: PlanItem[];
  /** True when apply() prints the changes instead of sending them. */
  dryRun: boolean;
  /** Carry out the plan; objects marked unchanged are not written. */
  apply(): Promise<PushOutcome>;
}

/** A plan from steps: apply runs the steps in order (later steps may use ids earlier ones returned). */
export function makePlan(service: PushPlan['service'], fleet: string, dryRun: boolean, steps: PlanStep[], retries: () => number): PushPlan {
  let applied: Promise<PushOutcome> | undefined;
  return {
    service,
    fleet,
    dryRun,
    items: steps.map(({ run: _run, ...item }) => item),
    apply() {
      applied ??= (async () => {
        const items: AppliedItem[] = [];
        for (const { run, ...item } of steps) items.push({ ...item, id: item.action === 'unchanged' ? item.id! : await run() });
        return { items, retries: retries() };
      })();
      return applied;
    },
  };
}

export function planCounts(items: PlanItem[]): Record<PlanAction, number> {
  const counts: Record<PlanAction, number> = { create: 0, update: 0, unchanged: 0 };
  for (const i of items) counts[i.action]++;
  return counts;
}

/** The plan as lines for a terminal or an output channel. */
export function formatPlan(plan: Pick<PushPlan, 'service' | 'fleet' | 'items'>): string[] {
  const c = planCounts(plan.items);
  const width = Math.max(...plan.items.map((i) => i.kind.length), 0);
  return [
    `plan for ${plan.service}, fleet ${plan.fleet}: ${c.create} to create, ${c.update} to update, ${c.unchanged} unchanged`,
    ...plan.items.map((i) => `  ${i.action.padEnd(9)} ${i.kind.padEnd(width)}  ${i.name}${i.id ? ` (id ${i.id})` : ''}: ${i.reason}`),
  ];
}

/** What applying a plan did, as lines; the last one sums it up. */
export function formatOutcome(plan: Pick<PushPlan, 'service' | 'fleet' | 'dryRun'>, outcome: PushOutcome): string[] {
  if (plan.dryRun) return [`dry run: nothing was changed in ${plan.service}`];
  const c = planCounts(outcome.items);
  const retries = `${outcome.retries} retr${outcome.retries === 1 ? 'y' : 'ies'}`;
  return [
    ...outcome.items.filter((i) => i.action !== 'unchanged').map((i) => `${i.action === 'create' ? 'created' : 'updated'} ${i.kind} ${i.name}: id ${i.id}`),
    `${plan.service}, fleet ${plan.fleet}: ${c.create} created, ${c.update} updated, ${c.unchanged} unchanged; ${retries}`,
  ];
}

/** JSON with object keys sorted, so equal settings hash equally whatever order they were built in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The marker Holdfast leaves on an object it made (an Intune app's notes, a profile's description): which fleet
 * and object it is, and hashes of the content and settings last written. Finding and change detection read it.
 */
export interface Marker {
  fleet: string;
  object: string;
  content?: string;
  settings: string;
}

const MARKER = /\[holdfast fleet=([^ \]]+) object=([^ \]]+)(?: content=([0-9a-f]{64}))? settings=([0-9a-f]{64})\]/;

export function formatMarker(m: Marker): string {
  return `[holdfast fleet=${m.fleet} object=${m.object}${m.content ? ` content=${m.content}` : ''} settings=${m.settings}]`;
}

export function readMarker(text: unknown): Marker | undefined {
  if (typeof text !== 'string') return undefined;
  const m = MARKER.exec(text);
  return m ? { fleet: m[1], object: m[2], ...(m[3] && { content: m[3] }), settings: m[4] } : undefined;
}

/** Why an object must be updated, or undefined when its marker says content and settings are as wanted. */
export function markerDifference(found: Marker | undefined, want: Marker): string | undefined {
  if (!found) return 'no Holdfast marker: written by hand or by an older push';
  const why: string[] = [];
  if (want.content && found.content !== want.content) why.push(`content changed (sha256 ${short(found.content)} -> ${short(want.content)})`);
  if (found.settings !== want.settings) why.push('settings changed');
  return why.length ? why.join(', ') : undefined;
}

const short = (h: string | undefined) => (h ? h.slice(0, 12) : 'none');
