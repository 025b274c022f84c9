/**
 * Encoded answers kept for reuse. dns-packet writes every owner name in full (it does not
 * compress names) through string operations, and encoding is the largest part of answering a
 * query; yet the same answers come back again and again — a rotation over n endpoints has n
 * orders, a hash or latency answer has one per key or region. So an answer is encoded once and
 * later copied with the query's ID written over the cached one.
 *
 * Answers are found by the question's name as asked, then by comparing the few things that,
 * with the name, decide the bytes (AnswerShape); no key string is built per query.
 */

/** Everything an answer's bytes depend on besides the question name and the ID. */
export interface AnswerShape {
  /** The version of the service the answer was made from (its ServiceFacts). */
  readonly version: object;
  /** The header bits repeated from the query (opcode, RD). */
  readonly header: number;
  /** The size limit of the transport: it decides truncation. */
  readonly limit: number;
  /** The EDNS part: "-" without, else the option echoed (client subnet and scope). */
  readonly edns: string;
  readonly type: string;
  readonly klass: string;
  /** The endpoints answered, in order (the same objects from one query to the next). */
  readonly endpoints: readonly object[];
}

export interface CachedAnswer {
  readonly bytes: Buffer;
  readonly truncated: boolean;
}

interface Entry extends CachedAnswer {
  readonly shape: AnswerShape;
}

/** Answers kept in all; when full, the name whose answers were added least recently goes. */
const DEFAULT_CAPACITY = 4096;
/** Answers kept per name: a rotation over up to this many endpoints is served from the cache. */
const PER_NAME = 32;

function sameShape(a: AnswerShape, b: AnswerShape): boolean {
  if (
    a.version !== b.version ||
    a.header !== b.header ||
    a.limit !== b.limit ||
    a.edns !== b.edns ||
    a.type !== b.type ||
    a.klass !== b.klass ||
    a.endpoints.length !== b.endpoints.length
  ) {
    return false;
  }
  for (let i = 0; i < a.endpoints.length; i++) {
    if (a.endpoints[i] !== b.endpoints[i]) return false;
  }
  return true;
}

export class AnswerCache {
  private readonly capacity: number;
  private readonly byName = new Map<string, Entry[]>();
  private count = 0;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.capacity = capacity;
  }

  /** How many answers are kept. */
  get size(): number {
    return this.count;
  }

  /** A fresh copy of the cached answer to `name` of this shape, with `id` as its ID, or null. */
  take(name: string, shape: AnswerShape, id: number): CachedAnswer | null {
    const entries = this.byName.get(name);
    if (entries === undefined) return null;
    for (const entry of entries) {
      if (!sameShape(entry.shape, shape)) continue;
      // A copy: the socket may still hold an earlier one. TypedArray.set is one native copy;
      // Buffer.copy goes through several checks in JavaScript first.
      const bytes = Buffer.allocUnsafe(entry.bytes.length);
      bytes.set(entry.bytes);
      bytes[0] = id >>> 8;
      bytes[1] = id & 0xff;
      return { bytes, truncated: entry.truncated };
    }
    return null;
  }

  /** Keeps a copy of `bytes` (the caller sends the original, which the socket may still hold). */
  put(name: string, shape: AnswerShape, bytes: Buffer, truncated: boolean): void {
    let entries = this.byName.get(name);
    if (entries === undefined) {
      entries = [];
    } else {
      // Touch the name: Map order is the eviction order.
      this.byName.delete(name);
    }
    this.byName.set(name, entries);
    if (entries.length >= PER_NAME) {
      entries.shift();
      this.count--;
    }
    entries.push({ shape, bytes: Buffer.from(bytes), truncated });
    this.count++;
    while (this.count > this.capacity) {
      const oldest = this.byName.entries().next();
      if (oldest.done) break;
      this.byName.delete(oldest.value[0]);
      this.count -= oldest.value[1].length;
    }
  }
}
