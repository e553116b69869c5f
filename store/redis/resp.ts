/**
 * RESP2, the Redis wire protocol: commands out as arrays of bulk strings, replies in parsed
 * incrementally. Binary-safe both ways: bulk strings are bytes (Uint8Array), never decoded.
 *
 * @module
 */

/** An error reply: the command did not take effect (or a script raised it). */
export class RedisError extends Error {
  /** Builds the error from Redis's message (e.g. "NOSCRIPT No matching script"). */
  constructor(message: string) {
    super(message);
    this.name = "RedisError";
  }
}

/** One reply: simple string, integer, bulk string (bytes), nil, error, or an array of replies. */
export type Reply = string | number | Uint8Array | null | RedisError | Reply[];

/** A command argument: text is sent as UTF-8, bytes as they are. */
export type Arg = string | number | Uint8Array;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CR = 13;
/** Most bytes handed to one read: the runtime's read costs grow with the buffer it is given. */
const READ_MAX = 256 * 1024;

/**
 * The wire form of a command, as parts to write in order. A large byte argument is one part of
 * its own (never copied); everything else is joined into as few parts as possible.
 */
export function encodeCommand(args: readonly Arg[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let text = `*${args.length}\r\n`;
  for (const arg of args) {
    if (arg instanceof Uint8Array && arg.length > 4096) {
      parts.push(encoder.encode(`${text}$${arg.length}\r\n`), arg);
      text = "\r\n";
      continue;
    }
    const bytes = arg instanceof Uint8Array ? arg : encoder.encode(String(arg));
    if (bytes === arg) {
      parts.push(encoder.encode(`${text}$${bytes.length}\r\n`), bytes);
      text = "\r\n";
    } else {
      text += `$${bytes.length}\r\n${String(arg)}\r\n`;
    }
  }
  parts.push(encoder.encode(text));
  return parts;
}

/** A parsed reply and where the next one starts. */
type Parsed = { value: Reply; next: number } | undefined;

/**
 * Replies parsed from a byte stream as it arrives: read into `space()`, report the byte count
 * with `wrote(n)`, then take whole replies with `next()` until it returns undefined.
 */
export class ReplyReader {
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  /** Bytes the reply being parsed needs in all (a large bulk string), so the buffer grows once. */
  #need = 0;

  /** Free space at the end of the buffer, at least 64 KiB (or what the pending reply needs). */
  space(): Uint8Array {
    const want = Math.max(64 * 1024, this.#need - (this.#end - this.#start));
    if (this.#buf.length - this.#end < want) {
      const used = this.#end - this.#start;
      const size = Math.max(this.#buf.length, used + want);
      const next = size > this.#buf.length ? new Uint8Array(size) : this.#buf;
      next.set(this.#buf.subarray(this.#start, this.#end), 0);
      this.#buf = next;
      this.#start = 0;
      this.#end = used;
    }
    return this.#buf.subarray(this.#end, this.#end + READ_MAX);
  }

  /** Records that `n` bytes were read into the last `space()`. */
  wrote(n: number): void {
    this.#end += n;
  }

  /** The next whole reply, or undefined until more bytes arrive. */
  next(): { value: Reply } | undefined {
    const parsed = this.#parse(this.#start);
    if (!parsed) return undefined;
    this.#start = parsed.next;
    this.#need = 0;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return { value: parsed.value };
  }

  #line(at: number): { text: string; next: number } | undefined {
    for (let i = at; i + 1 < this.#end; i++) {
      if (this.#buf[i] === CR) return { text: decoder.decode(this.#buf.subarray(at, i)), next: i + 2 };
    }
    return undefined;
  }

  #parse(at: number): Parsed {
    if (at >= this.#end) return undefined;
    const head = this.#line(at + 1);
    if (!head) return undefined;
    switch (this.#buf[at]) {
      case 43: // '+'
        return { value: head.text, next: head.next };
      case 45: // '-'
        return { value: new RedisError(head.text), next: head.next };
      case 58: // ':'
        return { value: Number(head.text), next: head.next };
      case 36: { // '$'
        const n = Number(head.text);
        if (n < 0) return { value: null, next: head.next };
        if (head.next + n + 2 > this.#end) {
          this.#need = head.next - this.#start + n + 2;
          return undefined;
        }
        return { value: this.#buf.slice(head.next, head.next + n), next: head.next + n + 2 };
      }
      case 42: { // '*'
        const n = Number(head.text);
        if (n < 0) return { value: null, next: head.next };
        const items: Reply[] = [];
        let next = head.next;
        for (let i = 0; i < n; i++) {
          const item = this.#parse(next);
          if (!item) return undefined;
          items.push(item.value);
          next = item.next;
        }
        return { value: items, next };
      }
      default:
        throw new RedisError(`Unexpected byte ${this.#buf[at]} in a Redis reply: is this a Redis server?`);
    }
  }
}

/** A bulk string reply as text (nil stays null). */
export function text(reply: Reply): string | null {
  if (reply === null) return null;
  if (reply instanceof Uint8Array) return decoder.decode(reply);
  if (typeof reply === "string" || typeof reply === "number") return String(reply);
  throw new RedisError(`Expected a string reply, got ${JSON.stringify(reply)}`);
}
