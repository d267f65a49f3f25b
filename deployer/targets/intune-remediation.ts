// Intune Remediations detection script for Windows fleets: the counterpart of the Jamf extension attributes. It
// reports the age of the last successful backup (from the installed agent's `status --json`) and exits 1 when it is
// stale, so Intune's Remediations report lists the devices whose backups stopped.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fleet } from '../../fleet/types.js';
import { commentText, psQuote } from './firewall.js';
import { INTUNE_DIR } from './intune.js';
import { renderTemplate } from './mdm-templates.js';
import { needsNoTools, type Artifact, type BuildContext, type Target } from './target.js';

export const DETECTION_SCRIPT = 'holdfast-detect-backup-age.ps1';
/** A backup older than this is stale (as `holdfast-server report --stale 3d`). */
export const DETECTION_STALE_HOURS = 72;

/** The detection script's text; values go in as PowerShell single-quoted strings or checked numbers. */
export function renderDetectionScript(fleet: Fleet, staleHours = DETECTION_STALE_HOURS): string {
  if (!Number.isSafeInteger(staleHours) || staleHours < 1) throw new Error(`stale hours ${staleHours}: expected a whole number from 1`);
  // Names go into single-quoted strings and comments: no line breaks, quotes, backticks or dollars.
  const text = (s: string) => commentText(s).replace(/['\u2018\u2019\u201a\u201b"`$]/g, '');
  return renderTemplate(
    'intune/detect-backup-age.ps1.hbs',
    {
      product: text(fleet.branding.product),
      fleet: text(fleet.fleet),
      staleHours,
      registryKey: psQuote(`HKLM:\\SOFTWARE\\${fleet.branding.vendor}\\${fleet.branding.product}`),
    },
    { escape: false },
  );
}

export const intuneRemediationTarget: Target = {
  name: 'intune-remediation',
  description: 'Intune Remediations detection script: age of the last successful backup, exit 1 when stale',
  isSupported: needsNoTools,
  async make(ctx: BuildContext): Promise<Artifact[]> {
    const dir = join(ctx.outDir, INTUNE_DIR);
    await mkdir(dir, { recursive: true });
    const file = join(dir, DETECTION_SCRIPT);
    // UTF-8 with BOM: Windows PowerShell 5.1 (what Intune runs) reads a file without one as the ANSI code page.
    await writeFile(file, `\ufeff${renderDetectionScript(ctx.loaded.fleet).replace(/\n/g, '\r\n')}`);
    return [
      {
        path: file,
        target: 'intune-remediation',
        description: `Intune Remediations detection script: reports the last backup's age, exit 1 when older than ${DETECTION_STALE_HOURS} h`,
        installCommands: [
          {
            channel: 'intune',
            command: `Intune admin center: Devices > Scripts and remediations > Create, detection script ${DETECTION_SCRIPT}, run as SYSTEM, 64-bit PowerShell`,
          },
        ],
      },
    ];
  },
};
