// Every test file: delete the temp folders tempDir() made, after the file's own afterAll hooks stopped the
// processes using them (vitest runs after-hooks in reverse order, so this one runs last).
import { afterAll } from 'vitest';
import { removeTempDirs } from './server.js';

afterAll(removeTempDirs);
