// Text from outside (file names, remote output): control characters escaped wherever it is shown.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { HumanSink, JsonSink, LogFileSink } from "../../../src/cli/output.js";
import { displayBytes, escapeControls } from "../../../src/engine/text.js";
import { esc } from "../../../src/report/escape.js";
import { tempDir } from "../../support/tmp.js";

test("control characters from file names are escaped on the terminal, in the log and in the report", () => {
  const hostile = "mail/\x1b]0;owned\x07\x1b[2J\u009b31mcold sync OK\nfake line";
  const out: string[] = [];
  const stream = { write: (s: string) => out.push(s) } as unknown as NodeJS.WritableStream;
  new HumanSink({ json: false, quiet: false, tty: false, color: false, stream }).emit({
    type: "warning",
    message: `cannot copy ${hostile}`,
  });
  const d = tempDir();
  new LogFileSink(d).emit({ type: "info", message: hostile });
  const jsonOut: string[] = [];
  new JsonSink({ write: (s: string) => jsonOut.push(s) } as unknown as NodeJS.WritableStream).emit({
    type: "info",
    message: hostile,
  });
  for (const [where, text] of [
    ["terminal", out.join("")],
    ["log", readFileSync(join(d, "bm-migrate.log"), "utf8")],
    ["json", jsonOut.join("")],
    ["report", esc(hostile)],
  ] as const) {
    for (const c of ["\u001b", "\u0007", "\u009b"])
      assert.ok(!text.includes(c), `${where}: no raw control character`);
  }
  assert.match(out.join(""), /\\x1b\]0;owned\\x07/);
  assert.equal(escapeControls("a\tb\nc"), "a\\tb\\nc");
  assert.equal(displayBytes(Buffer.from([0x61, 0xff, 0x0a, 0x62])), "a\\xff\\x0ab");
  assert.equal(displayBytes("é".normalize() === "é" ? Buffer.from("é") : Buffer.from("é")), "é");
});
