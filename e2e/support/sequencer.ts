import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The files build on each other (install, policies, scaling, upgrade, failover, uninstall), so
 * they run in the order of their names, not vitest's default (slowest first).
 */
export class NameOrderSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}
