/** Types of eslint/layers.js, for the tests that share its order (the values live in the .js only). */
import type { ESLint } from "eslint";

/** The folders of src/, lowest first. */
export declare const LAYERS: readonly string[];
/** The folder of src/ a path lies in: "" when it is not under src/, "." for a file directly in src/. */
export declare function folderOf(srcDir: string, file: string): string;
/** Why an import from folder `from` into folder `to` is not allowed, or undefined when it is. */
export declare function layerProblem(from: string, to: string): string | undefined;
declare const plugin: ESLint.Plugin;
export default plugin;
