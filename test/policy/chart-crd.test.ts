// The Helm chart installs its own copy of the CRD (charts/konsul-lb/crds/); `npm run crd` writes
// both files from the one schema, and this keeps them from drifting apart.

import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CRD_FILE, CRD_NAME, renderCrd } from "../../src/policy/crd.ts";

const root = new URL("../../", import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), "utf8");
const CHART_CRD_FILE = `charts/konsul-lb/${CRD_FILE}`;

describe("the chart's copy of the CRD", () => {
  it(`is byte for byte ${CRD_FILE} (run npm run crd after changing the schema)`, () => {
    const chart = read(CHART_CRD_FILE);
    expect(chart).toBe(read(CRD_FILE));
    expect(chart).toBe(renderCrd());
  });

  it("is the LoadBalancingPolicy CRD, the only file in the chart's crds/", () => {
    expect(readdirSync(new URL("charts/konsul-lb/crds/", root))).toEqual([basename(CRD_FILE)]);
    const crd = parse(read(CHART_CRD_FILE)) as { kind: string; metadata: { name: string } };
    expect(crd.kind).toBe("CustomResourceDefinition");
    expect(crd.metadata.name).toBe(CRD_NAME);
  });
});
