/**
 * Escaping for text and attribute values in the report. Everything that comes from the journal,
 * the log or a server (paths, titles, commands, error messages) goes through here.
 */
const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function esc(value: string | number | undefined): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
