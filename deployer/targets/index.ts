import type { Target } from './target.js';

/** Every generate target, one module each. Add one line per target module. */
export const targets: Target[] = [];

export function targetByName(name: string): Target | undefined {
  return targets.find((t) => t.name === name);
}
