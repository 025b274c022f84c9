import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { NOT_PLAIN, readPlainYaml } from "../../src/sources/plain-yaml.ts";

/** What the full parser makes of one document. */
function full(text: string): unknown {
  return parseDocument(text).toJS();
}

/** Documents the plain reader must read, each exactly as the full parser does. */
const PLAIN: readonly string[] = [
  "a: 1",
  "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\n  namespace: shop\n",
  "--- # a comment on the marker\na: b\n",
  "a:\n  b:\n    c: d\n  e: f\ng: h\n",
  "ports:\n- name: http\n  port: 80\n- name: grpc\n  port: 9090\n",
  "ports:\n  - name: http\n    port: 80\n  -   name: odd indent\n      port: 81\n",
  "list:\n- a\n- 'b'\n- \"c\"\n-\n  nested: yes\n- [x, y]\n- {k: v}\n",
  "s: [{name: http, port: 80, protocol: TCP}, {name: x}]\nm: { a: 1, b: [1, 2, ], c: 'q' }\n",
  "e: {}\nf: []\ng:\nh: ~\ni: null\nj: NULL\n",
  "b: [true, True, TRUE, false, False, FALSE, yes, no, on, off]\n",
  "n: [0, 7, -3, +4, 0123, 1.5, -0.5, .5, 1e3, 2.5E-2, 1., 10.0.0.1, 1_000, 08]\n",
  "t: 2024-01-02T03:04:05Z\nv: v1.2.3\nu: http://example.com/a?b=c#frag\nc: a#b\n",
  "q: \"tab\\tnew\\nline \\\"quoted\\\" \\u00e9 \\\\ \\/\"\nr: 'it''s'\n",
  '"quoted key": 1\n\'single key\': 2\nk: "a: b" # comment\n',
  "a: b # trailing comment\n# whole-line comment\n  # indented comment\nc: d\n",
  "labels:\n  app.kubernetes.io/name: shop\n  topology.kubernetes.io/zone: eu-1a\n",
  "a: -x\nb: - y\n".replace("b: - y\n", "b: '- y'\n"),
  "crlf: 1\r\nnext:\r\n  x: y\r\n",
  "k:    spaced value   \n",
  "",
  "# only a comment\n",
  '{"apiVersion": "v1", "kind": "List", "items": [{"kind": "Service", "n": 1.5, "x": null}]}\n',
  '---\n{\n  "kind": "Service",\n  "metadata": {"name": "a", "labels": {"k": "v\\u00e9"}}\n}\n',
];

/** Documents beyond the subset: the plain reader must leave them to the full parser. */
const NOT_IN_SUBSET: readonly string[] = [
  "a: &anchor 1\nb: *anchor\n",
  "a: !!str 1\n",
  "a: |\n  text\n",
  "a: >\n  folded\n",
  "a: multi\n  line\n",
  "a: 'multi\n  line'\n",
  "a: {b: c,\n  d: e}\n",
  "? complex\n: key\n",
  "a: 1\na: 2\n",
  "a: b: c\n",
  "a:\n\tb: c\n",
  "- a\n- b\n",
  "plain scalar\n",
  "a: .inf\nb: 0x1F\n",
  'a: "\\x41"\n',
  "a: [a:b]\n",
  "%YAML 1.2\n---\na: 1\n",
  "a: 1\n...\n",
  "a:\n- - nested\n",
  "a: 1\n  b: 2\n",
  "a: @x\n",
  "__proto__: x\n",
  "<<: {a: 1}\n",
  "\uFEFFa: 1\n",
  "{a: 1, b: [x]}\n",
];

describe("readPlainYaml", () => {
  it("reads every scalar by its first character as the full parser does", () => {
    // Scalars starting with any of these may be null, a boolean or a number; others are strings.
    const scalars = ["~", "null", "Null", "nulls", "n", "TRUE", "True", "t", "tru", "FALSE", "f"];
    scalars.push("+1", "-1", "-x", ".5", "0", "09", "1e3", "Yes", "x1", "Zone", "a.b", "_1", "@@");
    const text = scalars
      .map((scalar, i) => `k${i}: ${scalar}\n`)
      .join("")
      .replace("@@", "'@@'");
    expect(readPlainYaml(text)).toStrictEqual(full(text));
  });

  it.each(PLAIN)("reads %j as the full parser does", (text) => {
    const value = readPlainYaml(text);
    if (text.replace(/#.*/g, "").trim() === "") {
      expect(value).toBeNull();
      return;
    }
    expect(value).not.toBe(NOT_PLAIN);
    expect(value).toStrictEqual(full(text));
  });

  it.each(NOT_IN_SUBSET)("leaves %j to the full parser", (text) => {
    expect(readPlainYaml(text)).toBe(NOT_PLAIN);
  });

  it("reads every document of the demo either as the full parser does or not at all", () => {
    const documents = readFileSync(new URL("../../examples/demo.yaml", import.meta.url), "utf8")
      .split(/^---$/m)
      .filter((text) => text.replace(/#.*/g, "").trim() !== "");
    let read = 0;
    for (const text of documents) {
      const value = readPlainYaml(text);
      if (value === NOT_PLAIN) continue;
      read++;
      expect(value).toStrictEqual(full(text));
    }
    // Most of the demo is plain; the rest (multi-line flow mappings) goes to the full parser.
    expect(read).toBeGreaterThan(documents.length / 2);
  });
});
