// What a push needs to reach each service, in one place: the environment variable, the CLI flag, whether it is a
// secret (environment only, never a flag, never printed) and whether the push can do without it. The CLI's
// errors and the extension's prompts both come from this list.
export const PUSH_ENV = {
  graphTenant: 'HOLDFAST_GRAPH_TENANT_ID',
  graphClientId: 'HOLDFAST_GRAPH_CLIENT_ID',
  graphClientSecret: 'HOLDFAST_GRAPH_CLIENT_SECRET',
  graphGroup: 'HOLDFAST_GRAPH_GROUP_ID',
  graphUrl: 'HOLDFAST_GRAPH_URL',
  graphAuthority: 'HOLDFAST_GRAPH_AUTHORITY_URL',
  jamfUrl: 'HOLDFAST_JAMF_URL',
  jamfClientId: 'HOLDFAST_JAMF_CLIENT_ID',
  jamfClientSecret: 'HOLDFAST_JAMF_CLIENT_SECRET',
  jamfGroup: 'HOLDFAST_JAMF_GROUP_ID',
  jamfUninstallGroup: 'HOLDFAST_JAMF_UNINSTALL_GROUP_ID',
} as const;

export type PushService = 'intune' | 'jamf';

export interface PushSetting {
  key: 'tenantId' | 'clientId' | 'clientSecret' | 'groupId' | 'url' | 'uninstallGroupId';
  variable: string;
  what: string;
  /** The CLI flag; none for secrets. */
  flag?: string;
  secret: boolean;
  required: boolean;
}

export const PUSH_SETTINGS: Record<PushService, PushSetting[]> = {
  intune: [
    { key: 'tenantId', variable: PUSH_ENV.graphTenant, what: 'the Entra tenant id', flag: '--tenant', secret: false, required: true },
    { key: 'clientId', variable: PUSH_ENV.graphClientId, what: 'the app (client) id', flag: '--client-id', secret: false, required: true },
    { key: 'clientSecret', variable: PUSH_ENV.graphClientSecret, what: 'the client secret', secret: true, required: true },
    { key: 'groupId', variable: PUSH_ENV.graphGroup, what: 'the Entra group id to assign to', flag: '--group', secret: false, required: false },
  ],
  jamf: [
    { key: 'url', variable: PUSH_ENV.jamfUrl, what: 'the Jamf Pro URL', flag: '--url', secret: false, required: true },
    { key: 'clientId', variable: PUSH_ENV.jamfClientId, what: 'the API client id', flag: '--client-id', secret: false, required: true },
    { key: 'clientSecret', variable: PUSH_ENV.jamfClientSecret, what: 'the API client secret', secret: true, required: true },
    { key: 'groupId', variable: PUSH_ENV.jamfGroup, what: 'the computer group id', flag: '--group', secret: false, required: true },
    {
      key: 'uninstallGroupId',
      variable: PUSH_ENV.jamfUninstallGroup,
      what: 'the computer group id of the uninstall policy',
      flag: '--uninstall-group',
      secret: false,
      required: false,
    },
  ],
};

/** The value given (flag or option) or from the environment; a missing required one is an error naming both ways. */
export function pushSetting(service: PushService, key: PushSetting['key'], given: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const s = PUSH_SETTINGS[service].find((x) => x.key === key);
  if (!s) throw new Error(`no ${service} push setting ${key}`);
  const value = (s.secret ? undefined : given) || env[s.variable] || undefined;
  if (value || !s.required) return value;
  throw new Error(`${s.what} is missing: ${s.flag ? `pass ${s.flag} or set ${s.variable}` : `set ${s.variable} (secrets come from the environment only)`}`);
}

/** Required settings the environment lacks (what the extension asks for). */
export function missingPushSettings(service: PushService, env: NodeJS.ProcessEnv): PushSetting[] {
  return PUSH_SETTINGS[service].filter((s) => s.required && !env[s.variable]);
}
