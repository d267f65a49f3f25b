// A small real MSI built with wixl, for Intune tests that do not need the full agent MSI.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function buildTinyMsi(
  dir: string,
  opts: { name?: string; version?: string; manufacturer?: string; upgradeCode?: string; fileName?: string } = {},
): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  // Random bytes: the MSI (and so the .intunewin) stays about 20 kB after compression.
  writeFileSync(join(dir, 'payload.txt'), randomBytes(20_000));
  const wxs = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="${esc(opts.name ?? 'Tiny & Co')}" Language="1033" Version="${opts.version ?? '1.2.0'}" Manufacturer="${esc(opts.manufacturer ?? 'ACME IT')}" UpgradeCode="${opts.upgradeCode ?? '8D1F5A2C-3B7E-4C9A-A6D0-2E4F8B1C7D35'}">
    <Package InstallerVersion="200" Compressed="yes" InstallScope="perMachine"/>
    <Media Id="1" Cabinet="a.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir"><Directory Id="ProgramFilesFolder"><Directory Id="INSTALLDIR" Name="Tiny">
      <Component Id="C1" Guid="*"><File Id="F1" Source="payload.txt"/>
        <RegistryValue Root="HKLM" Key="Software\\Tiny" Name="v" Value="1" Type="string"/></Component>
    </Directory></Directory></Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="C1"/></Feature>
  </Product>
</Wix>`;
  const wxsFile = join(dir, 'tiny.wxs');
  writeFileSync(wxsFile, wxs);
  const out = join(dir, opts.fileName ?? 'holdfast-tiny.msi');
  try {
    execFileSync('wixl', ['-o', out, wxsFile], { stdio: 'pipe', cwd: dir });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('wixl is missing: apt-get install -y wixl msitools');
    throw err;
  }
  return out;
}
