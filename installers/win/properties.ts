// The MSI's public properties: what an admin may set on the msiexec command line. They override the fleet's
// values (installers/win/patch.ts puts them in SecureCustomProperties; agent/configure.ts applies them).
export const PUBLIC_PROPERTIES = ['TECHNICIANID', 'REGPRIMARY', 'REGALTERNATE', 'PROXYTYPE', 'PROXYHOST', 'PROXYPORT', 'PROXYUSER', 'PROXYPASSWORD'] as const;
/** Secrets: in MsiHiddenProperties, and dropped after use so no msiexec log shows them. */
export const HIDDEN_PROPERTIES = ['TECHNICIANID', 'PROXYPASSWORD'] as const;
