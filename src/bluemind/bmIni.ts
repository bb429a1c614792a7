/**
 * /etc/bm/bm.ini: `[global]` holds external-url, host, hz-member-address, db, user and password
 * (values may be quoted).
 */
export type IniSections = Record<string, Record<string, string>>;

export function parseIni(text: string): IniSections {
  const out: IniSections = {};
  let section = "global";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      section = s[1]!.trim();
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) continue;
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (
      value.length >= 2 &&
      ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))
    )
      value = value.slice(1, -1);
    (out[section] ??= {})[key] = value;
  }
  return out;
}

export interface BmIni {
  externalUrl?: string;
  host?: string;
  hzMemberAddress?: string;
  db?: string;
  user?: string;
  password?: string;
}

export function readBmIni(text: string): BmIni {
  const g = parseIni(text)["global"] ?? {};
  const pick = (k: string): string | undefined => g[k];
  const r: BmIni = {};
  const set = <K extends keyof BmIni>(k: K, v: string | undefined): void => {
    if (v !== undefined) r[k] = v;
  };
  set("externalUrl", pick("external-url"));
  set("host", pick("host"));
  set("hzMemberAddress", pick("hz-member-address"));
  set("db", pick("db"));
  set("user", pick("user"));
  set("password", pick("password"));
  return r;
}
