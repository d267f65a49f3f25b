// The MSI's public properties: what an admin may set on the msiexec command line. They override the fleet's
// values (installers/win/patch.ts puts them in SecureCustomProperties; agent/configure.ts applies them).
import type { ConfigurableSetting } from '../../agent/configure.js';

export const PUBLIC_PROPERTIES = ['TECHNICIANID', 'REGPRIMARY', 'REGALTERNATE', 'PROXYTYPE', 'PROXYHOST', 'PROXYPORT', 'PROXYUSER', 'PROXYPASSWORD'] as const;
export type PublicProperty = (typeof PUBLIC_PROPERTIES)[number];

/** The agent setting each public property sets: `holdfast-agent configure` reads them as name=value lines on stdin. */
export const PROPERTY_SETTINGS: Record<PublicProperty, ConfigurableSetting> = {
  TECHNICIANID: 'technicianId',
  REGPRIMARY: 'registration.primary',
  REGALTERNATE: 'registration.alternate',
  PROXYTYPE: 'proxy.type',
  PROXYHOST: 'proxy.host',
  PROXYPORT: 'proxy.port',
  PROXYUSER: 'proxy.username',
  PROXYPASSWORD: 'proxy.password',
};

/** The deferred configure action; a property of the same name carries its CustomActionData (every setting above). */
export const CONFIGURE_ACTION = 'HF_Configure';

/**
 * Properties holding secrets: in MsiHiddenProperties, and dropped after use so no msiexec log shows them. The
 * configure action's CustomActionData property holds both secrets, so it is one of them.
 */
export const HIDDEN_PROPERTIES = ['TECHNICIANID', 'PROXYPASSWORD', CONFIGURE_ACTION] as const;
