/** The origin as the administrator names it: `[user@]host[:port]`. */
export interface SshTarget {
  user: string;
  host: string;
  port?: number;
}

/** Parse `[user@]host[:port]`; user defaults to root. Returns undefined when malformed. */
export function parseDestination(text: string): SshTarget | undefined {
  const m =
    /^(?:([a-z_][a-z0-9_.-]{0,31})@)?([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?|\[[0-9a-fA-F:]+\])(?::(\d{1,5}))?$/.exec(
      text,
    );
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  const host = m[2]!.replace(/^\[|\]$/g, "");
  return { user: m[1] ?? "root", host, ...(port === undefined ? {} : { port }) };
}
