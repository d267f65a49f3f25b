// common/json-file.ts, the one read-and-parse-JSON helper: errors name the file and the fault with line and column,
// never the file's text (V8's SyntaxError quotes it, and agent.json holds secrets); every config reader uses it.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { configureAgent } from '../agent/configure.js';
import { loadAgentConfig } from '../agent/config.js';
import { readExclusions } from '../agent/engine/guard.js';
import { readIdentity, statePaths } from '../agent/state.js';
import { JsonFileError, parseJson, readJsonFile } from '../common/json-file.js';
import { loadFleet } from '../fleet/load.js';
import { loadServerConfig } from '../server/config.js';
import { tempDir } from './helpers/server.js';

const SECRET = 'S3CRET-TECH-4242';
// Short enough that V8's own message would quote all of it.
const BAD = `{\n  "technicianId": ${SECRET}\n}`;

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('common/json-file', () => {
  it('names the file, the fault, line and column, and never quotes the text', () => {
    let err: JsonFileError | undefined;
    try {
      parseJson(BAD, '/etc/holdfast/agent.json');
    } catch (e) {
      err = e as JsonFileError;
    }
    expect(err).toBeInstanceOf(JsonFileError);
    expect(err!.message).toBe('/etc/holdfast/agent.json: not valid JSON: unexpected character at line 2, column 19');
    expect(err!.code).toBeUndefined();
    expect(() => parseJson('{"a": 1,}', 'f.json')).toThrow(/^f\.json: not valid JSON: expected a property name in double quotes at line 1, column 9$/);
    expect(() => parseJson('[1 2]', 'f.json')).toThrow(/expected ',' at line 1, column 4/);
    expect(() => parseJson('{} []', 'f.json')).toThrow(/unexpected text after the JSON value at line 1, column 4/);
    expect(() => parseJson('// note\n{}', 'f.json')).toThrow(/comments are not allowed at line 1, column 1/);
    expect(() => parseJson('  \n', 'f.json')).toThrow(/^f\.json: the file is empty$/);
  });

  it('accepts a UTF-8 byte order mark (Notepad, PowerShell 5)', () => {
    expect(parseJson('\ufeff{"a": [1]}', 'f.json')).toEqual({ a: [1] });
  });

  it('a missing or unreadable file says so with its errno code', async () => {
    const dir = await tempDir();
    const err = (await rejection(readJsonFile(join(dir, 'nope.json'), 'fleet file'))) as JsonFileError;
    expect(err.message).toBe(`${join(dir, 'nope.json')}: cannot read fleet file: ENOENT`);
    expect(err.code).toBe('ENOENT');
    const isDir = (await rejection(readJsonFile(dir))) as JsonFileError;
    expect(isDir.problem).toBe('cannot read the file: EISDIR');
  });

  it('every reader of admin-written JSON reports the same way, without the secret', async () => {
    const dir = await tempDir();
    const file = join(dir, 'bad.json');
    await writeFile(file, BAD);
    const where = 'not valid JSON: unexpected character at line 2, column 19';
    const errors = {
      agentConfig: await rejection(loadAgentConfig(file)),
      fleet: await rejection(loadFleet(file)),
      serverConfig: await rejection(loadServerConfig(file)),
      configureDefaults: await rejection(configureAgent({ configPath: join(dir, 'agent.json'), defaultsPath: file })),
    };
    for (const [reader, err] of Object.entries(errors)) {
      expect(err.message, reader).toContain(file);
      expect(err.message, reader).toContain(where);
      expect(err.message, reader).not.toContain(SECRET.slice(0, 6));
    }
    // The agent's own state files: a damaged one names itself and what to do.
    const state = join(dir, 'state');
    await mkdir(state);
    await writeFile(statePaths(state).identity, '{"identitySecret": hunter2}');
    const identity = await rejection(readIdentity(statePaths(state)));
    expect(identity.message).toMatch(/identity\.json: not valid JSON: unexpected character at line 1, column 20: the file is damaged/);
    expect(identity.message).not.toContain('hunter2');
    await writeFile(statePaths(state).exclusions, '{"patterns": [}');
    expect(() => readExclusions(state)).toThrow(/exclusions\.json: not valid JSON: expected a value at line 1, column 15 \(the exclusions file is damaged\)/);
  });
});
