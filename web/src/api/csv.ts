/** Quote one CSV field (RFC 4180); a leading = + - @ is prefixed with ' so spreadsheets do not run it. */
export function csvField(value: unknown): string {
  let text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  if (/^[=+\-@\t\r]/.test(text) && Number.isNaN(Number(text))) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Rows of records as CSV text with a header of every key seen, CRLF line ends. */
export function toCsv(list: Array<Record<string, unknown>>): string {
  const columns: string[] = [];
  for (const row of list) for (const key of Object.keys(row)) if (!columns.includes(key)) columns.push(key);
  const lines = [columns.map(csvField).join(",")];
  for (const row of list) lines.push(columns.map((c) => csvField(row[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
