// The agent.json the policy tests lay group policy and managed preferences over: every policy-settable field has a
// file value, so a test sees which ones a policy replaced.
import type { AgentConfig } from '../../agent/config-types.js';

export const policyTestConfig: AgentConfig = {
  fleet: 'acme',
  technicianId: 'FILE-TECH-0001',
  registration: { primary: '12.159.133.10:16384', alternate: '66.151.228.10:16384' },
  tlsPin: `${'AA:'.repeat(31)}AA`,
  proxy: { type: 'socks5', host: 'proxy.acme.example', port: 1080, username: 'file-user', password: 'file-pass' },
  backup: { include: [], exclude: ['**/*.file'], protectedPaths: ['~/Finance'], schedule: { frequency: 'daily', at: '21:30' } },
  policy: { vendor: 'ACME IT', product: 'ACME Backup', domain: 'com.acme.backup' },
};
