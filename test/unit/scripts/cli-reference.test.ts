import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  OUTPUT,
  parseCommands,
  parseDescription,
  parseProse,
  renderCliReference,
} from "../../../scripts/cli-reference.js";

test("docs/commands.md is what scripts/cli-reference.ts writes from the CLI's --help", async () => {
  const expected = await renderCliReference();
  const actual = readFileSync(OUTPUT, "utf8");
  assert.ok(
    actual === expected,
    "docs/commands.md is stale (the CLI's --help or docs/commands.prose.md changed): run `npm run docs` and commit the result",
  );
});

test("the command list is read from the Commands: section of --help, without commander's help", () => {
  const top = [
    "Usage: bm-migrate [options] [command]",
    "",
    "Commands:",
    "  check [options]      preflight: inspect both servers and report blockers,",
    "                       warnings and facts",
    "  hot-sync [options]   copy the data directories",
    "  help [command]       display help for command",
    "",
    "Exit codes: 0 done",
  ].join("\n");
  assert.deepEqual(parseCommands(top), ["check", "hot-sync"]);
  assert.throws(() => parseCommands("Usage: x\n"), /no 'Commands:' section/);
});

test("a command's description is its help's paragraph before Options:, unwrapped", () => {
  const help = [
    "Usage: bm-migrate status [options]",
    "",
    "where the migration stands: phases, steps, times, volumes, the outage, what to",
    "run next",
    "",
    "Options:",
    "  --follow  then show",
  ].join("\n");
  assert.equal(
    parseDescription(help),
    "where the migration stands: phases, steps, times, volumes, the outage, what to run next",
  );
});

test("the prose file is split by '## command' headings; text before the first is ignored", () => {
  const prose = parseProse("# Title\n\nintro\n\n## check\n\nInspects.\n\n## `hot-sync`\nCopies.\n");
  assert.deepEqual(
    [...prose.entries()],
    [
      ["check", "Inspects."],
      ["hot-sync", "Copies."],
    ],
  );
});
