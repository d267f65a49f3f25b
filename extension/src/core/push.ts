// "Push to Intune/Jamf (plan first)" without the editor: the deployer's plan functions (the ones
// `holdfast-deploy push` runs), the settings to ask for, and the confirmation text the command shows.
import type { PushFleetResult, PushPlan, PushService, PushSetting } from '../../../deployer/push/index.js';

export interface PushPlanOptions {
  service: PushService;
  fleetFile: string;
  /** Where generate wrote (the fleets' <outDir>/<fleet>). */
  outDir: string;
  /** The editor's environment with the values the admin typed in (secrets never stored). */
  env: NodeJS.ProcessEnv;
  /** Every line the push logs (requests masked), for the output channel. */
  onLine?: (line: string) => void;
}

/** The required settings the environment lacks, in the order the command asks for them. */
export async function pushSettingsToAsk(service: PushService, env: NodeJS.ProcessEnv): Promise<PushSetting[]> {
  const { missingPushSettings } = await import('../../../deployer/push/index.js');
  return missingPushSettings(service, env);
}

/** Read what the service holds for the fleet and make the plan (nothing is changed). */
export async function planPush(o: PushPlanOptions): Promise<PushPlan> {
  const push = await import('../../../deployer/push/index.js');
  const common = { outDir: o.outDir, env: o.env, log: o.onLine };
  return o.service === 'intune' ? push.planIntuneFleet(o.fleetFile, common) : push.planJamfFleet(o.fleetFile, common);
}

/** Apply the plan the admin confirmed (its requests are logged through the plan's onLine). */
export async function applyPush(plan: PushPlan): Promise<PushFleetResult> {
  return { plan, outcome: await plan.apply() };
}

export interface PlanConfirmation {
  /** Nothing to create or update: no need to ask. */
  upToDate: boolean;
  message: string;
  /** One line per object, for the modal's detail. */
  detail: string;
}

/** What the confirmation modal shows for a plan. */
export async function planConfirmation(plan: PushPlan): Promise<PlanConfirmation> {
  const { formatPlan, planCounts } = await import('../../../deployer/push/index.js');
  const c = planCounts(plan.items);
  const [, ...lines] = formatPlan(plan);
  return {
    upToDate: c.create === 0 && c.update === 0,
    message:
      c.create + c.update === 0
        ? `${plan.service} is up to date for ${plan.fleet}: ${c.unchanged} object(s) unchanged.`
        : `Apply to ${plan.service} for ${plan.fleet}? ${c.create} to create, ${c.update} to update, ${c.unchanged} unchanged.`,
    detail: lines.map((l) => l.trim()).join('\n'),
  };
}

/** What the apply did, as lines (the last one sums it up): the CLI prints the same. */
export async function pushOutcomeLines(r: PushFleetResult): Promise<string[]> {
  const { formatOutcome } = await import('../../../deployer/push/index.js');
  return formatOutcome(r.plan, r.outcome);
}
