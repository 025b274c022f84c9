/**
 * A fast reader for the plain block YAML that `kubectl get -o yaml` and most hand-written
 * manifests use: block mappings and sequences, plain and quoted one-line scalars, and one-line
 * flow collections; and for JSON documents (`kubectl get -o json`). The full parser (the `yaml` package) reads about 1 MB of manifests per
 * second here, which made a 20 MB file take half a minute; this reader does the same file in a
 * fraction of that. It reads one document and gives `NOT_PLAIN` for anything beyond the subset
 * (anchors, tags, block scalars, multi-line scalars, complex keys, errors of any kind), so that
 * the caller hands such a document to the full parser, which gives the answer or the error with
 * its line. Within the subset the values are those of the full parser under the YAML 1.2 core
 * schema, which it uses by default.
 */

/** The document uses YAML beyond the plain subset: read it with the full parser. */
export const NOT_PLAIN: unique symbol = Symbol("not plain YAML");

class NotPlain extends Error {}

function notPlain(): never {
  throw new NotPlain();
}

type Value = null | boolean | number | string | Value[] | { [key: string]: Value };

/** A document that is a JSON object, as `kubectl get -o json` prints it. */
const JSON_DOCUMENT = /^(?:---[ \t]*\r?\n)?\s*\{/;

/** Reads one document (its text may start with its `---` line); NOT_PLAIN beyond the subset. */
export function readPlainYaml(text: string): unknown {
  if (JSON_DOCUMENT.test(text)) {
    // JSON is YAML; only a duplicate key reads differently (the last wins instead of an error),
    // and no JSON printer writes one.
    try {
      return JSON.parse(text.startsWith("---") ? text.slice(text.indexOf("\n") + 1) : text);
    } catch {
      return NOT_PLAIN;
    }
  }
  try {
    return new PlainReader(text).document();
  } catch (error) {
    if (error instanceof NotPlain) return NOT_PLAIN;
    throw error;
  }
}

const INT = /^[-+]?[0-9]{1,15}$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const NULL = /^(?:~|null|Null|NULL)$/;
const TRUE = /^(?:true|True|TRUE)$/;
const FALSE = /^(?:false|False|FALSE)$/;
/** Plain scalars the core schema reads as something this reader leaves to the full parser. */
const SPECIAL_NUMBER = /^(?:[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|0o[0-7]+|0x[0-9a-fA-F]+)$/;
/** A plain scalar cannot start with these (block context). */
const INDICATOR = /^[-?:,[\]{}#&*!|>'"%@`]/;
/** Whether a plain scalar starts with an indicator; `-1` and `-x` are plain, `- x` is not. */
function startsWithIndicator(text: string): boolean {
  return INDICATOR.test(text) && !/^-[^\s]/.test(text);
}

/** Escapes that mean the same in YAML double quotes and JSON strings. */
const JSON_ESCAPES = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/g;

/**
 * Whether a plain scalar may be read by the core schema as something other than a string: null
 * (`~`, `null`), a boolean or a number (`.5`, `-1`, `.inf`, `0x1f`) starts with one of
 * `-+.0-9~nNtTfF`. Most scalars of a manifest (names, addresses, kinds) start otherwise and are
 * strings without trying any pattern.
 */
function mayBeOtherThanString(first: number): boolean {
  switch (first) {
    case 43 /* + */:
    case 45 /* - */:
    case 46 /* . */:
    case 126 /* ~ */:
    case 78 /* N */:
    case 110 /* n */:
    case 84 /* T */:
    case 116 /* t */:
    case 70 /* F */:
    case 102 /* f */:
      return true;
    default:
      return first >= 48 /* 0 */ && first <= 57 /* 9 */;
  }
}

function resolvePlain(text: string): Value {
  if (text !== "" && !mayBeOtherThanString(text.charCodeAt(0))) return detached(text);
  if (text === "" || NULL.test(text)) return null;
  if (TRUE.test(text)) return true;
  if (FALSE.test(text)) return false;
  if (INT.test(text) || FLOAT.test(text)) return Number(text);
  if (SPECIAL_NUMBER.test(text)) notPlain();
  return detached(text);
}

/**
 * A string with the characters of `slice` that shares no memory with the text it was cut from.
 * V8 makes a cut of 13 characters or more a view into its parent, so one pod name kept in the
 * catalog would keep its whole document alive; cutting a string just joined makes a new one.
 */
function detached(slice: string): string {
  return slice.length < 13 ? slice : `${slice} `.slice(0, -1);
}

/** A key must come out as a string, as the full parser's toJS would give it. */
function keyOf(value: Value): string {
  if (typeof value !== "string" || value === "__proto__" || value === "<<") notPlain();
  return value;
}

function doubleQuoted(quoted: string): string {
  // Any escape JSON does not share (\x, \0, \e, a line break...) is left to the full parser.
  if (quoted.replace(JSON_ESCAPES, "").includes("\\")) notPlain();
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return notPlain();
  }
}

/** The end of the quoted scalar starting at `start` (the index after its closing quote). */
function quotedEnd(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i];
    if (quote === '"' && char === "\\") {
      i++;
      continue;
    }
    if (char !== quote) continue;
    if (quote === "'" && text[i + 1] === "'") {
      i++;
      continue;
    }
    return i + 1;
  }
  // Closed on a later line: a multi-line scalar.
  return notPlain();
}

function unquote(quoted: string): string {
  return quoted[0] === '"'
    ? doubleQuoted(quoted)
    : detached(quoted.slice(1, -1).replaceAll("''", "'"));
}

/** Whether `rest` is nothing, or a comment. */
function isEmptyOrComment(rest: string): boolean {
  const trimmed = rest.trimStart();
  return trimmed === "" || (trimmed[0] === "#" && trimmed.length < rest.length);
}

/** A plain scalar value with any comment removed; anything ambiguous is left to the full parser. */
function plainValue(text: string): Value {
  const comment = text.indexOf(" #");
  const value = (comment < 0 ? text : text.slice(0, comment)).trimEnd();
  if (startsWithIndicator(value)) notPlain();
  if (value.includes(": ") || value.endsWith(":") || value.includes("\t")) notPlain();
  return resolvePlain(value);
}

/** One-line flow collections: `{ name: http, port: 80 }`, `[a, "b"]`. */
class FlowReader {
  #at = 0;
  readonly #text: string;

  constructor(text: string) {
    this.#text = text;
  }

  /** The collection at the start of the text; only a comment may follow it. */
  whole(): Value {
    const value = this.#value();
    if (!isEmptyOrComment(this.#text.slice(this.#at))) notPlain();
    return value;
  }

  #skipSpaces(): void {
    while (this.#text[this.#at] === " ") this.#at++;
  }

  #value(): Value {
    this.#skipSpaces();
    const char = this.#text[this.#at];
    if (char === "{") return this.#mapping();
    if (char === "[") return this.#sequence();
    if (char === '"' || char === "'") {
      const end = quotedEnd(this.#text, this.#at);
      const value = unquote(this.#text.slice(this.#at, end));
      this.#at = end;
      return value;
    }
    let end = this.#at;
    while (end < this.#text.length && !",[]{}:#".includes(this.#text[end] as string)) end++;
    const plain = this.#text.slice(this.#at, end).trim();
    if (plain === "" || startsWithIndicator(plain)) notPlain();
    this.#at = end;
    return resolvePlain(plain);
  }

  #mapping(): Value {
    this.#at++;
    const mapping: { [key: string]: Value } = {};
    for (;;) {
      this.#skipSpaces();
      if (this.#text[this.#at] === "}") break;
      const key = keyOf(this.#value());
      this.#skipSpaces();
      // `a:b` is one scalar in flow YAML, `"a":b` a pair: only `key: value` is read here.
      if (this.#text[this.#at] !== ":" || !" ,}".includes(this.#text[this.#at + 1] ?? "")) {
        notPlain();
      }
      this.#at++;
      this.#skipSpaces();
      const next = this.#text[this.#at];
      const value = next === "," || next === "}" ? null : this.#value();
      if (Object.hasOwn(mapping, key)) notPlain();
      mapping[key] = value;
      this.#skipSpaces();
      if (this.#text[this.#at] === ",") this.#at++;
      else if (this.#text[this.#at] !== "}") notPlain();
    }
    this.#at++;
    return mapping;
  }

  #sequence(): Value {
    this.#at++;
    const sequence: Value[] = [];
    for (;;) {
      this.#skipSpaces();
      if (this.#text[this.#at] === "]") break;
      sequence.push(this.#value());
      this.#skipSpaces();
      if (this.#text[this.#at] === ",") this.#at++;
      else if (this.#text[this.#at] !== "]") notPlain();
    }
    this.#at++;
    return sequence;
  }
}

/** A value on the line of its key or dash. */
function inlineValue(text: string): Value {
  const first = text[0];
  if (first === "{" || first === "[") return new FlowReader(text).whole();
  if (first === '"' || first === "'") {
    const end = quotedEnd(text, 0);
    if (!isEmptyOrComment(text.slice(end))) notPlain();
    return unquote(text.slice(0, end));
  }
  return plainValue(text);
}

/** A mapping line's key and what follows its colon; null when the line is no `key: ...`. */
function splitKey(content: string): { key: string; rest: string } | null {
  let keyEnd: number;
  let key: string;
  const first = content[0];
  if (first === '"' || first === "'") {
    keyEnd = quotedEnd(content, 0);
    if (content[keyEnd] !== ":") return null;
    key = unquote(content.slice(0, keyEnd));
  } else {
    if (first === "{" || first === "[") return null;
    const colon = content.indexOf(": ");
    keyEnd = colon >= 0 ? colon : content.endsWith(":") ? content.length - 1 : -1;
    if (keyEnd <= 0) return null;
    const plain = content.slice(0, keyEnd);
    if (INDICATOR.test(plain) || plain.includes(" #") || plain !== plain.trimEnd()) notPlain();
    key = keyOf(resolvePlain(plain));
  }
  const rest = content.slice(keyEnd + 1);
  if (rest !== "" && rest[0] !== " ") notPlain();
  return { key, rest: rest.trim() };
}

class PlainReader {
  /** The lines that hold content: their indentation and their text without it. */
  readonly #indents: number[] = [];
  readonly #contents: string[] = [];

  constructor(text: string) {
    if (text.startsWith("\uFEFF")) notPlain();
    let start = 0;
    let first = true;
    while (start <= text.length) {
      let end = text.indexOf("\n", start);
      if (end < 0) end = text.length;
      let line = text.slice(start, end);
      start = end + 1;
      if (line.endsWith("\r")) line = line.slice(0, -1);
      let indent = 0;
      while (line[indent] === " ") indent++;
      const content = line.slice(indent);
      if (content === "" || content[0] === "#") continue;
      if (content[0] === "\t") notPlain();
      if (indent === 0 && (content.startsWith("---") || content.startsWith("..."))) {
        // The document's own start marker, with at most a comment after it.
        if (!first || !isEmptyOrComment(content.slice(3)) || content.startsWith("...")) notPlain();
        first = false;
        continue;
      }
      if (indent === 0 && content[0] === "%") notPlain();
      first = false;
      this.#indents.push(indent);
      this.#contents.push(content);
    }
  }

  document(): Value {
    if (this.#contents.length === 0) return null;
    const [value, next] = this.#block(0, 0);
    if (next !== this.#contents.length) notPlain();
    // A root that is no mapping is rare and an error for a manifest: the full parser says so.
    if (value === null || typeof value !== "object" || Array.isArray(value)) notPlain();
    return value;
  }

  #isSequenceItem(i: number): boolean {
    const content = this.#contents[i] as string;
    return content === "-" || content.startsWith("- ");
  }

  /** The block starting at line `i`, which is indented by `indent`. */
  #block(i: number, indent: number): [Value, number] {
    if (this.#indents[i] !== indent) notPlain();
    return this.#isSequenceItem(i) ? this.#sequence(i, indent) : this.#mapping(i, indent);
  }

  /** The value of a key or dash with nothing after it on its line. */
  #nested(i: number, indent: number, compactSequence: boolean): [Value, number] {
    const nextIndent = this.#indents[i];
    if (nextIndent === undefined || nextIndent < indent) return [null, i];
    if (nextIndent > indent) return this.#block(i, nextIndent);
    // Same indentation: only a mapping's sequence may sit there (`ports:` then `- name: http`).
    if (compactSequence && this.#isSequenceItem(i)) return this.#sequence(i, indent);
    return [null, i];
  }

  /** After a value given on its line, the next line must not be indented deeper. */
  #afterInline(i: number, indent: number): number {
    const nextIndent = this.#indents[i];
    if (nextIndent !== undefined && nextIndent > indent) notPlain();
    return i;
  }

  #mapping(start: number, indent: number): [Value, number] {
    const mapping: { [key: string]: Value } = {};
    let i = start;
    while (i < this.#contents.length && this.#indents[i] === indent && !this.#isSequenceItem(i)) {
      const split = splitKey(this.#contents[i] as string);
      if (split === null) notPlain();
      if (Object.hasOwn(mapping, split.key)) notPlain();
      let value: Value;
      // The rest followed a space, so a "#" starts a comment.
      if (split.rest === "" || split.rest[0] === "#") {
        [value, i] = this.#nested(i + 1, indent, true);
      } else {
        value = inlineValue(split.rest);
        i = this.#afterInline(i + 1, indent);
      }
      mapping[split.key] = value;
    }
    if (i < this.#contents.length && (this.#indents[i] as number) > indent) notPlain();
    return [mapping, i];
  }

  #sequence(start: number, indent: number): [Value, number] {
    const sequence: Value[] = [];
    let i = start;
    while (i < this.#contents.length && this.#indents[i] === indent && this.#isSequenceItem(i)) {
      const content = this.#contents[i] as string;
      const after = content.slice(1);
      const item = after.trimStart();
      if (isEmptyOrComment(after)) {
        const [value, next] = this.#nested(i + 1, indent, false);
        sequence.push(value);
        i = next;
        continue;
      }
      if (item === "-" || item.startsWith("- ")) notPlain();
      const split = item[0] === "{" || item[0] === "[" ? null : splitKey(item);
      if (split !== null) {
        // `- name: http`: a mapping whose lines are indented to where its first key starts.
        const itemIndent = indent + 1 + (after.length - item.length);
        this.#indents[i] = itemIndent;
        this.#contents[i] = item;
        const [value, next] = this.#mapping(i, itemIndent);
        sequence.push(value);
        i = next;
        continue;
      }
      sequence.push(inlineValue(item));
      i = this.#afterInline(i + 1, indent);
    }
    if (i < this.#contents.length && (this.#indents[i] as number) > indent) notPlain();
    return [sequence, i];
  }
}
