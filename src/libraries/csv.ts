// CSV as RFC 4180 writes it: fields separated by commas, lines ended by CRLF, a field holding a
// comma, a quote, a line break or a space at either end quoted, with its quotes doubled. A field
// a spreadsheet would read as a formula (beginning with =, +, -, @, a tab or a carriage return)
// gets a leading apostrophe, so an exported reason cannot run in the reader's spreadsheet
// (OWASP's advice against CSV injection); a reader who needs the text byte for byte takes JSON.

export type CsvValue = string | number | boolean | null | undefined;

const FORMULA = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]|^\s|\s$/;

/** One field: empty for null, else its text, neutralised and quoted as needed. */
export function csvField(value: CsvValue): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && FORMULA.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Lines of `rows`, each with the `columns` in order, after a header line of the column names (unless `header` is false). */
export function toCsv<T extends object>(columns: ReadonlyArray<keyof T & string>, rows: readonly T[], header = true): string {
  const lines = rows.map((row) => columns.map((c) => csvField(row[c] as CsvValue)).join(','));
  return [...(header ? [columns.map(csvField).join(',')] : []), ...lines].map((line) => `${line}\r\n`).join('');
}
