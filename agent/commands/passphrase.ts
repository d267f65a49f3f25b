/** The company key's passphrase from the environment variable --passphrase-env names (never from the command line). */
export function passphraseFromEnv(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const passphrase = process.env[name];
  if (passphrase === undefined) throw new Error(`--passphrase-env ${name}: that environment variable is not set`);
  return passphrase;
}
