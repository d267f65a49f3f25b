// A registered device for in-process protocol tests: real registration against a test server, then
// the agent's RemoteStore (the same code the CLI uses).
import { loadAgentConfig, type LoadedAgentConfig } from '../../agent/config.js';
import { registerDevice } from '../../agent/register.js';
import { openRemoteStore, type RemoteStore } from '../../agent/remote-store.js';
import { makeAgent, type MakeAgentOptions, type TestAgent } from './agent.js';

export interface TestDevice {
  agent: TestAgent;
  loaded: LoadedAgentConfig;
  deviceId: string;
  /** A new RemoteStore for this device (close it when done). */
  store(options?: { retryRounds?: number; log?: (line: string) => void }): Promise<RemoteStore>;
}

export async function registeredDevice(options: MakeAgentOptions): Promise<TestDevice> {
  const agent = await makeAgent(options);
  const loaded = await loadAgentConfig(agent.configPath);
  const r = await registerDevice({ loaded });
  return {
    agent,
    loaded,
    deviceId: r.deviceId,
    store: (o = {}) => openRemoteStore(loaded, { retryRounds: o.retryRounds ?? 1, log: o.log }),
  };
}
