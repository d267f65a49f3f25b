import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium, openWorkbench, startCodeServer } from './code-server.js';
import { repoRoot } from './paths.js';
const ws = await mkdtemp(join(tmpdir(), 'hf-dbg-ws-'));
for (const name of ['demo.fleet.json', 'acme.fleet.json']) {
  const doc = JSON.parse(await readFile(join(repoRoot, 'examples', 'fleets', name), 'utf8'));
  delete doc.$schema;
  await writeFile(join(ws, name), JSON.stringify(doc, null, 2) + '\n');
}
const server = await startCodeServer({ folder: ws, vsix: join(repoRoot, 'extension', 'holdfast-0.1.0.vsix') });
const browser = await launchChromium();
const page = await openWorkbench(browser, server);
try {
  await page.screenshot({ path: '/tmp/extdbg/a.png' });
  const tabs = await page.locator('.activitybar .action-item a.action-label').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
  console.log(tabs);
  await page.locator('.activitybar .action-item a.action-label[aria-label^="Holdfast"]').click();
  await page.waitForTimeout(4000);
  await page.screenshot({ path: '/tmp/extdbg/b.png' });
  console.log(await page.locator('.sidebar').innerHTML().then((h) => h.length));
  console.log(await page.locator('.pane-header').evaluateAll((els) => els.map((e) => e.outerHTML.slice(0, 300))));
} finally {
  console.log(server.log().slice(-3000));
  await browser.close();
  await server.stop();
}
