// How every config-file error reads (fleet files, agent.json, server config): the file, how many problems,
// then one indented line per problem.
export function problemsMessage(file: string, problems: string[]): string {
  return `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${problems.map((p) => `  ${p}`).join('\n')}`;
}
