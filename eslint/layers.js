/**
 * The layers of src/: each folder imports only from the folders below it (inside one folder,
 * imports are free; `node:` and package imports are free). The rule `layers/no-climbing-import`
 * keeps it so, and test/unit/eslint/layers.test.ts checks the whole import graph with the same order.
 * A new folder under src/ must be placed in LAYERS before anything in it may import or be imported.
 */
import { dirname, relative, resolve, sep } from "node:path";

/** The folders of src/, lowest first. The one place this order is written. */
export const LAYERS = Object.freeze([
  "engine", // plan, runner, journal, lock, settings, errors, events, paths: no knowledge of BlueMind
  "adapters", // the outside world: processes, ssh, rsync, PostgreSQL tools, HTTP, the watcher
  "bluemind", // BlueMind knowledge: profiles, services, bm.ini, facts, API calls, repairs
  "database", // PostgreSQL knowledge shared by copy and verify: row groups, row versions, manifest, upgrades
  "check", // preflight: gathering facts from both servers and judging them into findings
  "network", // addresses, each distribution's network configuration, BlueMind's IP-change edits
  "config", // the configuration file: parsing and validating it
  "phases", // the steps of each phase (hot-sync, cold-sync, post...) and the plans they make
  "verify", // the verification: manifests compared, the verification ahead, the swap gate
  "report", // the HTML report and its model
  "migration", // the phases chained: run's orchestration and every phase's plan
  "commands", // one module per command: parses one typed options object and calls a phase or the migration
  "cli", // the entry point: flags, the App, output rendering, exit codes
]);

/**
 * The folder of src/ a path lies in: "" when it is not under src/, "." for a file directly in src/.
 * @param {string} srcDir absolute path of src/
 * @param {string} file absolute path
 */
export function folderOf(srcDir, file) {
  const rel = relative(srcDir, file);
  if (rel === "" || rel.startsWith("..") || rel.startsWith(sep) || rel.includes(":")) return "";
  const parts = rel.split(sep);
  return parts.length > 1 ? (parts[0] ?? ".") : ".";
}

/**
 * Why an import from folder `from` into folder `to` is not allowed, or undefined when it is.
 * @param {string} from
 * @param {string} to
 */
export function layerProblem(from, to) {
  const order = `the layers, lowest first: ${LAYERS.join(" < ")} (eslint/layers.js)`;
  if (!LAYERS.includes(to)) {
    return `src/${from}/ imports from src/${to === "." ? "" : `${to}/`}, which is not a layer; place it in ${order}`;
  }
  if (from === to) return undefined;
  if (LAYERS.indexOf(to) > LAYERS.indexOf(from)) {
    return `src/${from}/ imports from src/${to}/, a higher layer; ${order}`;
  }
  return undefined;
}

/** @type {import("eslint").Rule.RuleModule} */
const noClimbingImport = {
  meta: {
    type: "problem",
    docs: { description: "a folder of src/ imports only from the folders below it in the layer order" },
    schema: [],
    messages: {
      climbs: "{{problem}}",
      unplaced:
        "src/{{folder}}/ is not a layer; place it in the layers, lowest first: {{order}} (eslint/layers.js)",
    },
  },
  create(context) {
    const file = context.filename;
    const srcDir = resolve(context.cwd, "src");
    const from = folderOf(srcDir, file);
    if (from === "" || from === ".") return {};
    if (!LAYERS.includes(from)) {
      return {
        Program(node) {
          context.report({ node, messageId: "unplaced", data: { folder: from, order: LAYERS.join(" < ") } });
        },
      };
    }
    /** @param {import("estree").Node | null | undefined} source */
    function check(source) {
      if (!source || source.type !== "Literal" || typeof source.value !== "string") return;
      const spec = source.value;
      if (!spec.startsWith("./") && !spec.startsWith("../")) return;
      const to = folderOf(srcDir, resolve(dirname(file), spec));
      if (to === "") return;
      const problem = layerProblem(from, to);
      if (problem) context.report({ node: source, messageId: "climbs", data: { problem } });
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      /** `import("../x.js").T` in a type position. */
      TSImportType(/** @type {any} */ node) {
        const arg = node.argument?.literal ?? node.argument;
        check(arg);
      },
    };
  },
};

/** The ESLint plugin: `layers/no-climbing-import`. */
export default { meta: { name: "layers" }, rules: { "no-climbing-import": noClimbingImport } };
