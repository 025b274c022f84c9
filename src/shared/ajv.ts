/**
 * The one ajv instance every schema check in the program compiles with: JSON Schema 2020-12,
 * every error at once (a user fixes a file in one pass), the failing value and schema node kept
 * for the message, strict so that a misspelt keyword in a schema fails at start. `expected`
 * (what a node allows, in words, for messages) is a keyword of ours that validates nothing.
 */

import type { ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
import Ajv2020 from "ajv/dist/2020.js";

export type { ErrorObject, ValidateFunction };

const ajv = new Ajv2020.default({
  allErrors: true,
  verbose: true,
  strict: true,
  allowUnionTypes: true,
});
ajv.addKeyword({ keyword: "expected", schemaType: "string" });

/** A validator of `schema`; its errors carry the value (`data`) and the node (`parentSchema`). */
export function compileValidator(schema: object): ValidateFunction {
  return ajv.compile(schema);
}
