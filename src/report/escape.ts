/**
 * Escaping for text and attribute values in the report. Everything that comes from the journal,
 * the log or a server (paths, titles, commands, error messages) goes through here.
 */
import { escapeControls } from "../engine/text.js";

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function esc(value: string | number | undefined): string {
  // Control characters as visible escapes first (the same function as the terminal and the log).
  return escapeControls(String(value ?? ""), { keepNewlines: true }).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
