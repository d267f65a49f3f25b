// holdfast-deploy generate <fleet...> --out dist [--target msi,pkg]: installers and hand-offs per fleet.
import { Command } from 'commander';
import { DEFAULT_OUT_DIR, generateFleets } from '../generate.js';
import { targets } from '../targets/index.js';

interface GenerateFlags {
  out: string;
  target?: string;
  cache?: string;
  quiet?: boolean;
  technicianIdAtInstall?: boolean;
  proxyPasswordAtInstall?: boolean;
}

export function generateCommand(): Command {
  return new Command('generate')
    .description('build installers and MDM hand-offs for each fleet into <out>/<fleet>/, with a manifest.json')
    .argument('<fleet...>', 'fleet files or folders holding *.fleet.json')
    .option('-o, --out <dir>', 'output folder', DEFAULT_OUT_DIR)
    .option('-t, --target <list>', `comma-separated targets (default: all): ${targets.map((t) => t.name).join(', ') || 'none registered'}`)
    .option('--cache <dir>', 'cache for shared work (payloads, runtimes); default ~/.cache/holdfast or HOLDFAST_CACHE_DIR')
    .option('-q, --quiet', 'print only the manifest paths')
    .option('--technician-id-at-install', 'build without the Technician ID when its variable is unset; every install line must give TECHNICIANID=')
    .option('--proxy-password-at-install', 'build without the proxy password when its variable is unset; every install line must give PROXYPASSWORD=')
    .action(async (args: string[], opts: GenerateFlags) => {
      const result = await generateFleets(args, {
        outDir: opts.out,
        targets: opts.target
          ?.split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        cacheDir: opts.cache,
        atInstall: [...(opts.technicianIdAtInstall ? (['technicianId'] as const) : []), ...(opts.proxyPasswordAtInstall ? (['proxyPassword'] as const) : [])],
        progress: opts.quiet ? undefined : (e) => process.stderr.write(`${e.text}\n`),
      });
      for (const f of result.fleets) {
        process.stdout.write(`${f.manifestPath}\n`);
        if (!opts.quiet) for (const a of f.manifest.artifacts) process.stderr.write(`  ${a.path}  ${a.size} bytes  sha256 ${a.sha256}\n`);
      }
      if (!opts.quiet) process.stderr.write(`generated ${result.fleets.length} fleet(s) in ${(result.durationMs / 1000).toFixed(1)} s\n`);
    });
}
