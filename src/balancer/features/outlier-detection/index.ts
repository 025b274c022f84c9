export * from "./detector.ts";
export * from "./settings.ts";
