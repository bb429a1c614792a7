/** Scratch directories for tests. */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A new empty directory under the system's temporary directory, its name starting with `prefix`. */
export function tempDir(prefix = "bm-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
