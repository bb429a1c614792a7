// bm.ini as BlueMind writes it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readBmIni } from "../../../src/bluemind/bmIni.js";

test("bm.ini values may be quoted", () => {
  const ini = readBmIni('[global]\nexternal-url = mail.example.org\nhost = 10.0.0.5\npassword = "s3cr=t"\n');
  assert.equal(ini.externalUrl, "mail.example.org");
  assert.equal(ini.password, "s3cr=t");
});
