// Moved to common/fs-atomic.ts (shared with the agent); nothing imports this path any more.
export { fsyncDir, writeFileAtomic } from '../common/fs-atomic.js';
