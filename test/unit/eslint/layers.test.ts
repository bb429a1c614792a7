/**
 * The layers of src/ (eslint/layers.js): the lint rule reports an import that climbs, and the
 * import graph of src/ as it stands has no climbing import and no cycle between files.
 */
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { ESLint } from "eslint";
import tseslint from "typescript-eslint";
import layers, { LAYERS, folderOf, layerProblem } from "../../../eslint/layers.js";
import { REPO } from "../../support/cli.js";

const SRC = join(REPO, "src");
const RULE = "layers/no-climbing-import";

/** Lint one snippet as if it were the file `file` (relative to the repository), with the rule alone. */
async function lintAs(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: REPO,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ["src/**/*.ts"],
        languageOptions: { parser: tseslint.parser },
        plugins: { layers },
        rules: { [RULE]: "error" },
      },
    ],
  });
  const [result] = await eslint.lintText(code, { filePath: join(REPO, file) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? "parse"}: ${m.message}`);
}

test("the rule reports an import that climbs to a higher layer, naming both folders and the order", async () => {
  const messages = await lintAs(
    "src/engine/x.ts",
    'import { createApp } from "../cli/app.js";\nvoid createApp;\n',
  );
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(messages[0] ?? "", /^layers\/no-climbing-import: src\/engine\/ imports from src\/cli\//);
  assert.match(messages[0] ?? "", new RegExp(LAYERS.join(" < ")));
});

test("the rule reports re-exports, dynamic imports and type imports that climb", async () => {
  const code = [
    'export { x } from "../phases/plans.js";',
    'export * from "../verify/gate.js";',
    'const m = await import("../commands/run.js");',
    'type T = import("../report/model.js").Report;',
    "void m;",
    "export type { T };",
  ].join("\n");
  const messages = await lintAs("src/adapters/y.ts", code);
  assert.equal(messages.length, 4, messages.join("\n"));
});

test("the rule lets an import go down a layer, stay in its folder, or reach node: and packages", async () => {
  const code = [
    'import { sleep } from "../engine/sleep.js";',
    'import { other } from "./other.js";',
    'import { readFileSync } from "node:fs";',
    'import { z } from "zod";',
    'const later = await import("../adapters/ssh.js");',
    "void [sleep, other, readFileSync, z, later];",
  ].join("\n");
  assert.deepEqual(await lintAs("src/bluemind/z.ts", code), []);
});

test("the rule reports an import into a folder that is not in the order, and a file in such a folder", async () => {
  const into = await lintAs("src/cli/z.ts", 'import { a } from "../somewhere/a.js";\nvoid a;\n');
  assert.equal(into.length, 1, into.join("\n"));
  assert.match(into[0] ?? "", /src\/somewhere\/, which is not a layer/);
  const inside = await lintAs(
    "src/somewhere/a.ts",
    'import { sleep } from "../engine/sleep.js";\nvoid sleep;\n',
  );
  assert.equal(inside.length, 1, inside.join("\n"));
  assert.match(inside[0] ?? "", /src\/somewhere\/ is not a layer/);
});

test("eslint.config.js turns the rule on as an error for src/", async () => {
  const eslint = new ESLint({ cwd: REPO });
  const config = (await eslint.calculateConfigForFile(join(SRC, "engine", "plan.ts"))) as {
    rules?: Record<string, unknown>;
  };
  const setting = config.rules?.[RULE];
  assert.equal(Array.isArray(setting) ? setting[0] : setting, 2);
});

/** Every .ts file under a directory. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".ts"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The relative specifiers of a module: import/export ... from "./x.js", import "./x.js", import("./x.js"). */
function relativeSpecifiers(code: string): string[] {
  const found: string[] = [];
  for (const m of code.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.\.?\/[^"']+)["']/g)) found.push(m[1] ?? "");
  return found;
}

/** The import graph of the files under `root`: file → the files it imports (.js resolved to .ts). */
function importGraph(root: string): { graph: Map<string, string[]>; unresolved: string[] } {
  const graph = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of sources(root)) {
    const targets: string[] = [];
    for (const spec of relativeSpecifiers(readFileSync(file, "utf8"))) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      if (existsSync(target)) targets.push(target);
      else unresolved.push(`${relative(REPO, file)} → ${spec}`);
    }
    graph.set(file, [...new Set(targets)]);
  }
  return { graph, unresolved };
}

/** One cycle of the graph as the list of its files (first repeated last), or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === "open") return [...path.slice(path.indexOf(next)), next];
      if (!state.has(next)) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    if (state.has(node)) continue;
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

test("the cycle finder finds a cycle and names its files", () => {
  const graph = new Map([
    ["a", ["b"]],
    ["b", ["c"]],
    ["c", ["a", "d"]],
    ["d", []],
  ]);
  assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  graph.set("c", ["d"]);
  assert.equal(findCycle(graph), undefined);
});

test("the specifier parser sees static, re-exported, side-effect and dynamic imports", () => {
  const code = [
    'import { a } from "./a.js";',
    'import type { B } from "../b/b.js";',
    'export * from "./c.js";',
    'import "./d.js";',
    'const e = await import("../e.js");',
    'import { f } from "node:fs";',
  ].join("\n");
  assert.deepEqual(relativeSpecifiers(code), ["./a.js", "../b/b.js", "./c.js", "./d.js", "../e.js"]);
});

const { graph, unresolved } = importGraph(SRC);

test("every relative import of src/ resolves to a file", () => {
  assert.ok(graph.size > 50, `only ${graph.size} files found under src/`);
  assert.deepEqual(unresolved, []);
});

test("no file of src/ imports, through any chain, itself", () => {
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle: ${(cycle ?? []).map((f) => relative(REPO, f)).join(" → ")}`);
});

test("no import of src/ climbs a layer", () => {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const from = folderOf(SRC, file);
    if (!LAYERS.includes(from)) problems.push(`${relative(REPO, file)}: src/${from}/ is not a layer`);
    for (const target of targets) {
      const problem = layerProblem(from, folderOf(SRC, target));
      if (problem) problems.push(`${relative(REPO, file)} → ${relative(REPO, target)}: ${problem}`);
    }
  }
  assert.deepEqual(problems, []);
});
