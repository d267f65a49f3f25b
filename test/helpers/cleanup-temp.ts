// Every test file, last: stop the processes the helpers started that are still running (by process group), then
// delete the temp folders tempDir() made. vitest runs after-hooks in reverse order, so this one, registered first,
// runs after the file's own afterAll hooks.
import { afterAll } from 'vitest';
import { stopAllProcesses } from './process.js';
import { removeTempDirs } from './server.js';

afterAll(async () => {
  await stopAllProcesses();
  await removeTempDirs();
});
