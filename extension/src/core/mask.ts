/** Show only the last four characters of a secret, e.g. "••••••0001"; short secrets are hidden entirely. */
export function maskSecret(value: string): string {
  if (value.length <= 6) return '•'.repeat(Math.max(value.length, 4));
  return '•'.repeat(Math.min(value.length - 4, 8)) + value.slice(-4);
}
