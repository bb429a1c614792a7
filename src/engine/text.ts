/**
 * Text that came from elsewhere (file names on the origin, a program's stderr, the journal) is shown
 * to people only through here. A file name may hold any byte but `/` and NUL: printed raw, ESC and
 * BEL sequences rewrite the administrator's terminal (a fake "cold sync OK" over a failure), a
 * newline forges a line. Control characters become visible escapes (`\x1b`, `\n`); the text is
 * otherwise unchanged. One function, used by the terminal output, the log file and the report.
 */

// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeOne(c: string): string {
  switch (c) {
    case "\n":
      return "\\n";
    case "\t":
      return "\\t";
    case "\r":
      return "\\r";
    default: {
      const code = c.charCodeAt(0);
      return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
    }
  }
}

/**
 * Control characters (C0, DEL, C1, Unicode line separators and direction overrides) as escapes.
 * `keepNewlines`: a message's own line breaks stay (each line is escaped).
 */
export function escapeControls(text: string, opts: { keepNewlines?: boolean } = {}): string {
  return text.replace(CONTROL, (c) => (opts.keepNewlines && c === "\n" ? c : escapeOne(c)));
}

/**
 * A name held as bytes (a `latin1` string: one character per byte, how the tool carries file names
 * so that names that are not UTF-8 survive), for people: UTF-8 decoded where it is valid, other
 * bytes as `\xNN`, control characters escaped.
 */
export function displayBytes(bytes: string | Buffer): string {
  const buf = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes;
  const text = buf.toString("utf8");
  if (Buffer.from(text, "utf8").equals(buf)) return escapeControls(text);
  // Not valid UTF-8: every byte outside printable ASCII as an escape.
  let out = "";
  for (const b of buf)
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  return out;
}

const JSON_UNSAFE = /[\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * JSON.stringify, with the control characters it leaves raw (DEL, C1, line separators, direction
 * overrides) written as `\uXXXX` too: the same value once parsed, nothing a terminal acts on.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(
    JSON_UNSAFE,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
