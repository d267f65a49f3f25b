// CSV for spreadsheets (firewall rule sheets, fleet reports): RFC 4180 quoting by csv-stringify, plus the one rule it
// lacks: a text cell starting with = + - @ (or a tab or CR) is prefixed with ' so a spreadsheet shows it as text
// instead of evaluating it (OWASP "CSV injection").
import { stringify } from 'csv-stringify/sync';

export type CsvCell = string | number | boolean | null | undefined;

function cellText(v: CsvCell): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return typeof v === 'string' && /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
}

/** A header row and the rows; `eol` 'windows' (CRLF) for files an admin opens on Windows. */
export function csvTable(header: readonly string[], rows: readonly CsvCell[][], eol: 'unix' | 'windows' = 'unix'): string {
  return stringify(
    rows.map((r) => r.map(cellText)),
    { header: true, columns: [...header], record_delimiter: eol },
  );
}
