import { describe, expect, it } from "vitest";
import {
  DNS_1035_LABEL_PATTERN,
  DNS_1123_LABEL,
  DNS_1123_SUBDOMAIN,
  LABEL_KEY_PATTERN,
  LABEL_NAME,
  LABEL_VALUE_PATTERN,
  QUALIFIED_NAME_PATTERN,
} from "../../src/shared/kubernetes-names.ts";

// Examples from the API server's own validation (k8s.io/apimachinery/pkg/util/validation).
describe("Kubernetes name syntax", () => {
  it("RFC 1123 labels and subdomains", () => {
    for (const name of ["a", "konsul-lb", "0abc", "a1-b2"])
      expect(DNS_1123_LABEL.test(name)).toBe(true);
    for (const name of ["", "-a", "a-", "A", "a.b", "a_b"])
      expect(DNS_1123_LABEL.test(name)).toBe(false);
    for (const name of ["a.b", "konsul-lb.leader", "a"])
      expect(DNS_1123_SUBDOMAIN.test(name)).toBe(true);
    for (const name of ["a..b", ".a", "a.", "a.-b", "A.b"]) {
      expect(DNS_1123_SUBDOMAIN.test(name)).toBe(false);
    }
  });

  it("RFC 1035 labels start with a letter and hold at most 63 characters", () => {
    const pattern = new RegExp(DNS_1035_LABEL_PATTERN);
    expect(pattern.test("checkout")).toBe(true);
    expect(pattern.test("1checkout")).toBe(false);
    expect(pattern.test(`a${"b".repeat(62)}`)).toBe(true);
    expect(pattern.test(`a${"b".repeat(63)}`)).toBe(false);
  });

  it("label keys, values and qualified names", () => {
    const key = new RegExp(LABEL_KEY_PATTERN);
    const value = new RegExp(LABEL_VALUE_PATTERN);
    const qualified = new RegExp(QUALIFIED_NAME_PATTERN);
    expect(key.test("app.kubernetes.io/name")).toBe(true);
    expect(key.test("Zone_1")).toBe(true);
    expect(key.test("Example.com/name")).toBe(false);
    expect(key.test(`${"a".repeat(64)}`)).toBe(false);
    expect(value.test("")).toBe(true);
    expect(value.test("v1.2_beta")).toBe(true);
    expect(value.test("-v")).toBe(false);
    expect(LABEL_NAME.test("")).toBe(false);
    expect(qualified.test("lb.konsul.io/Ready")).toBe(true);
    expect(qualified.test("Ready")).toBe(true);
    expect(qualified.test("Ready/")).toBe(false);
  });
});
