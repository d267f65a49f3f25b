// The MSI's public properties: what an admin may set on the msiexec command line. They override the fleet's
// values (installers/win/patch.ts puts them in SecureCustomProperties; agent/configure.ts applies them). Names and
// secrecy come from the agent's settings table (agent/settings.ts), like configure's, the ADMX's and the mobileconfig's.
import type { ConfigurableSetting } from '../../agent/configure.js';
import { INSTALL_SETTINGS, isSecret } from '../../agent/settings.js';

export type PublicProperty = (typeof INSTALL_SETTINGS)[number]['msiProperty'];
export const PUBLIC_PROPERTIES: readonly PublicProperty[] = INSTALL_SETTINGS.map((s) => s.msiProperty);

/** The agent setting each public property sets: `holdfast-agent configure` reads them as name=value lines on stdin. */
export const PROPERTY_SETTINGS = Object.fromEntries(INSTALL_SETTINGS.map((s) => [s.msiProperty, s.name])) as Record<PublicProperty, ConfigurableSetting>;

/** The deferred configure action; a property of the same name carries its CustomActionData (every setting above). */
export const CONFIGURE_ACTION = 'HF_Configure';

/**
 * Properties holding secrets: in MsiHiddenProperties, and dropped after use so no msiexec log shows them. The
 * configure action's CustomActionData property holds both secrets, so it is one of them.
 */
export const HIDDEN_PROPERTIES: readonly string[] = [...INSTALL_SETTINGS.filter(isSecret).map((s) => s.msiProperty), CONFIGURE_ACTION];
