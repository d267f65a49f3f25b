// Reading a JSON file that an admin, an installer or the agent itself wrote (agent.json, fleet files, the server
// config, fleet defaults, state files). Errors name the file and the problem, with line and column for bad JSON,
// and never show the file's text: it may hold a Technician ID, a proxy password or a key. (V8's own SyntaxError
// quotes the text around the fault, so its message is never passed on.) A UTF-8 byte order mark, as Notepad and
// PowerShell 5 write one, is ignored.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { type ParseError, parse as parseTolerant, printParseErrorCode } from 'jsonc-parser';

export class JsonFileError extends Error {
  constructor(
    readonly file: string,
    /** What is wrong, without the file name: "cannot read the file: EACCES", "not valid JSON: ... at line 3, column 5". */
    readonly problem: string,
    /** The errno code when the file could not be read (ENOENT, EACCES...); undefined for bad JSON. */
    readonly code?: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'JsonFileError';
  }
}

const DESCRIBE: Record<string, string> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: "expected ':'",
  CommaExpected: "expected ','",
  CloseBraceExpected: "expected '}'",
  CloseBracketExpected: "expected ']'",
  EndOfFileExpected: 'unexpected text after the JSON value',
  InvalidCommentToken: 'comments are not allowed',
  UnexpectedEndOfComment: 'comments are not allowed',
  UnexpectedEndOfString: 'string not closed on its line',
  UnexpectedEndOfNumber: 'number cut short',
  InvalidUnicode: 'invalid \\u escape',
  InvalidEscapeCharacter: 'invalid escape after \\',
  InvalidCharacter: 'control character inside a string',
};

/** Where and what the first fault is, located by a tolerant parser that reports offsets instead of quoting text. */
function describeFault(text: string): string {
  if (text.trim() === '') return 'the file is empty';
  const errors: ParseError[] = [];
  parseTolerant(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (!first) return 'not valid JSON';
  const before = text.slice(0, first.offset).split(/\r\n|\r|\n/);
  const line = before.length;
  const column = before[before.length - 1].length + 1;
  return `not valid JSON: ${DESCRIBE[printParseErrorCode(first.error)] ?? 'syntax error'} at line ${line}, column ${column}`;
}

/** Parses JSON text read from `file`; throws JsonFileError naming the file, the fault and where it is. */
export function parseJson(text: string, file: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch {
    throw new JsonFileError(file, describeFault(body));
  }
}

function readError(file: string, what: string, err: unknown): JsonFileError {
  const code = (err as NodeJS.ErrnoException).code;
  return new JsonFileError(file, `cannot read ${what}: ${code ?? (err as Error).message}`, code ?? 'EIO');
}

/** Reads and parses a JSON file. `what` names it in a read error ("cannot read fleet file: ENOENT"). */
export async function readJsonFile(file: string, what = 'the file'): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw readError(file, what, err);
  }
  return parseJson(text, file);
}

/** The synchronous form of readJsonFile. */
export function readJsonFileSync(file: string, what = 'the file'): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw readError(file, what, err);
  }
  return parseJson(text, file);
}
