/**
 * A unified diff of two texts (as `diff -u` prints it), to show a configuration change before it
 * is made. Configuration files are small: a plain longest-common-subsequence table is enough.
 */

type Op = { kind: " " | "-" | "+"; line: string };

function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines;
}

function editScript(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: length of the longest common subsequence of a[i..] and b[j..]
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: " ", line: a[i]! });
      i++;
      j++;
    } else if (lcs[i + 1]![j]! >= lcs[i]![j + 1]!) ops.push({ kind: "-", line: a[i++]! });
    else ops.push({ kind: "+", line: b[j++]! });
  }
  while (i < n) ops.push({ kind: "-", line: a[i++]! });
  while (j < m) ops.push({ kind: "+", line: b[j++]! });
  return ops;
}

/**
 * `--- a/PATH` / `+++ b/PATH` and the hunks with `context` lines around each change; an empty
 * string when the texts are equal. A file that does not exist yet is shown from /dev/null.
 */
export function unifiedDiff(path: string, before: string | undefined, after: string, context = 3): string {
  if (before === after) return "";
  const a = splitLines(before ?? "");
  const b = splitLines(after);
  const ops = editScript(a, b);
  const changed = ops.map((o, k) => (o.kind === " " ? -1 : k)).filter((k) => k >= 0);
  const out = [before === undefined ? "--- /dev/null" : `--- a${path}`, `+++ b${path}`];
  let k = 0;
  while (k < changed.length) {
    // Grow a hunk while the next change is within 2*context lines of the last one.
    const first = changed[k]!;
    let last = first;
    while (k + 1 < changed.length && changed[k + 1]! - last <= 2 * context) last = changed[++k]!;
    k++;
    const from = Math.max(0, first - context);
    const to = Math.min(ops.length - 1, last + context);
    let aStart = 0;
    let bStart = 0;
    for (let x = 0; x < from; x++) {
      if (ops[x]!.kind !== "+") aStart++;
      if (ops[x]!.kind !== "-") bStart++;
    }
    const hunk = ops.slice(from, to + 1);
    const aLen = hunk.filter((o) => o.kind !== "+").length;
    const bLen = hunk.filter((o) => o.kind !== "-").length;
    const range = (start: number, len: number): string =>
      `${len === 0 ? start : start + 1}${len === 1 ? "" : `,${len}`}`;
    out.push(`@@ -${range(aStart, aLen)} +${range(bStart, bLen)} @@`);
    for (const o of hunk) out.push(`${o.kind}${o.line}`);
  }
  return out.join("\n") + "\n";
}
