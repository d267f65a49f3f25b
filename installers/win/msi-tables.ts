// MSI tables as text: `msiinfo export` writes a table as an .idt file, `msibuild -i` reads one back.
// The .idt format: line 1 column names, line 2 column types, line 3 table name and primary keys, then rows,
// tab-separated; tab, CR and LF inside a value are written as 0x15, 0x11 and 0x19 (Windows' import decodes them;
// msitools stores them as they are, and crashes on a raw LF, so a real line break is set with SQL: see harden.ts).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './tools.js';

export interface MsiTable {
  name: string;
  columns: string[];
  types: string[];
  keys: string[];
  rows: string[][];
}

const ENCODE: Record<string, string> = { '\t': '\x15', '\r': '\x11', '\n': '\x19' };
const DECODE: Record<string, string> = { '\x15': '\t', '\x11': '\r', '\x19': '\n' };

export function parseIdt(text: string): MsiTable {
  // msiinfo export ends rows with CRLF and writes a line break inside a value as a bare LF (msibuild -q can store one).
  const lines = text.includes('\r\n') ? text.split('\r\n') : text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length < 3) throw new Error('not an .idt table: fewer than 3 header lines');
  const [name, ...keys] = lines[2].split('\t');
  return {
    name,
    keys,
    columns: lines[0].split('\t'),
    types: lines[1].split('\t'),
    rows: lines.slice(3).map((l) => l.split('\t').map((v) => v.replace(/[\x15\x11\x19]/g, (c) => DECODE[c]))),
  };
}

export function formatIdt(table: MsiTable): string {
  const encode = (v: string): string => v.replace(/[\t\r\n]/g, (c) => ENCODE[c]);
  for (const row of table.rows) {
    if (row.length !== table.columns.length) throw new Error(`${table.name}: row has ${row.length} values, table has ${table.columns.length} columns`);
  }
  return [table.columns.join('\t'), table.types.join('\t'), [table.name, ...table.keys].join('\t'), ...table.rows.map((r) => r.map(encode).join('\t'))]
    .map((l) => `${l}\r\n`)
    .join('');
}

export async function exportTable(msi: string, table: string): Promise<MsiTable> {
  return parseIdt(await runTool('msiinfo', ['export', msi, table]));
}

/** Column accessors by name, so edits read like the MSI documentation. */
export function column(table: MsiTable, name: string): number {
  const i = table.columns.indexOf(name);
  if (i < 0) throw new Error(`${table.name} has no column ${name}`);
  return i;
}

export function rowWhere(table: MsiTable, col: string, value: string): string[] {
  const i = column(table, col);
  const row = table.rows.find((r) => r[i] === value);
  if (!row) throw new Error(`${table.name}: no row with ${col} = ${value}`);
  return row;
}

export function setCell(table: MsiTable, keyCol: string, key: string, col: string, value: string): void {
  rowWhere(table, keyCol, key)[column(table, col)] = value;
}

/** Writes tables as .idt files into `dir` and returns the `msibuild` arguments importing them. */
export async function importArgs(dir: string, tables: MsiTable[]): Promise<string[]> {
  const args: string[] = [];
  for (const t of tables) {
    const file = `${t.name}.idt`;
    // msibuild reads .idt files in the current codepage; the tables declare UTF-8 through _ForceCodepage.
    await writeFile(join(dir, file), formatIdt(t), 'utf8');
    args.push('-i', file);
  }
  return args;
}

/**
 * Escapes a literal for a Formatted column: [ ] { } would otherwise be read as property references or groups.
 * https://learn.microsoft.com/windows/win32/msi/formatted
 */
export function formattedLiteral(value: string): string {
  return value.replace(/[[\]{}]/g, (c) => `[\\${c}]`);
}
