// PatternSet files anchored patterns under their fixed leading folder; it must select exactly what testing every
// pattern selects (here: per-user excludes of 20 profiles, "**" patterns, wildcards mid-path, a folder pattern).
import { describe, expect, it } from 'vitest';
import { compilePattern, PatternSet } from '../agent/engine/patterns.js';
import { DEFAULT_EXCLUDES, expandProfiles } from '../agent/profiles.js';

describe('PatternSet', () => {
  it('selects the same paths as testing each pattern', () => {
    const users = Array.from({ length: 20 }, (_, i) => ({ user: `u${i}`, path: `/home/u${i}` }));
    const patterns = [
      ...expandProfiles([...DEFAULT_EXCLUDES.win32, ...DEFAULT_EXCLUDES.darwin, ...DEFAULT_EXCLUDES.linux], users),
      '**/*.tmp',
      '/home/u3/Documents/**',
      '/home/u*/Videos',
      '/srv/data',
    ];
    const set = new PatternSet(patterns);
    const each = patterns.map(compilePattern);
    const names = [
      'Documents',
      'AppData',
      'Local',
      'Temp',
      'Library',
      'Caches',
      'Containers',
      'x',
      'Data',
      'NTUSER.DAT',
      'a.tmp',
      'Videos',
      '.cache',
      '.x.icloud',
    ];
    let seed = 7;
    const pick = () => names[(seed = (seed * 1103515245 + 12345) % 2 ** 31) % names.length];
    let selected = 0;
    for (let n = 0; n < 5000; n++) {
      const depth = 1 + (n % 6);
      const path = [n % 3 === 0 ? '/srv/data' : `/home/u${n % 25}`, ...Array.from({ length: depth }, pick)].join('/');
      const expected = each.some((m) => m.matches(path));
      expect(set.find(path) !== undefined, path).toBe(expected);
      if (expected) selected++;
    }
    expect(selected).toBeGreaterThan(500);
    expect(selected).toBeLessThan(5000);
  });
});
