// `push intune` refuses a Win32 app whose install line still carries a placeholder for a secret to be given at
// install time (generate --technician-id-at-install): Intune runs the line as written, so every install would
// fail. The admin may accept it explicitly (to fill the value in the Intune admin center before assigning).
import { installTimeKinds } from '../targets/target.js';

export const ALLOW_AT_INSTALL_FLAG = '--allow-install-time-placeholders';

/** What the manifest says about the artifact (needsAtInstall, requiredAtInstall); optional: the body is checked too. */
export interface AtInstallManifest {
  requiredAtInstall?: Array<{ property: string; placeholder: string; variable: string }>;
  artifacts?: Array<{ path: string; needsAtInstall?: string[] }>;
}

/** The properties the install line lacks, from the manifest marks and the placeholders in the line itself. */
export function missingAtInstall(installCommandLine: string, manifest: AtInstallManifest | undefined, artifactPaths: string[]): string[] {
  const marked = (manifest?.artifacts ?? []).filter((a) => artifactPaths.some((p) => p.endsWith(a.path))).flatMap((a) => a.needsAtInstall ?? []);
  const inLine = installTimeKinds()
    .filter((k) => installCommandLine.includes(`${k.property}=${k.placeholder}`))
    .map((k) => k.property);
  return [...new Set([...marked, ...inLine])];
}

/** Throws the refusal naming each missing value, its variable and the flag that made it, unless allowed. */
export function refuseAtInstall(file: string, missing: string[], manifest: AtInstallManifest | undefined, allowed: boolean): void {
  if (!missing.length || allowed) return;
  const kinds = installTimeKinds();
  const what = missing.map((property) => {
    const k = kinds.find((x) => x.property === property);
    const variable = manifest?.requiredAtInstall?.find((r) => r.property === property)?.variable;
    return `${property}=${k?.placeholder ?? '<value>'} (generated with ${k?.flag ?? 'a placeholder'}${variable ? `; its value comes from ${variable}` : ''})`;
  });
  throw new Error(
    `push intune: ${file} installs with ${what.join(' and ')}: Intune runs that line as written, so every install would fail. ` +
      `Set the variable and generate again, or pass ${ALLOW_AT_INSTALL_FLAG} if you will put the value into the app's install command in Intune ` +
      'before assigning it.',
  );
}
