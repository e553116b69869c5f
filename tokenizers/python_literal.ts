/**
 * Parses one Python string or bytes literal ('..', "..", b'..', b"..") into
 * bytes: str literals are encoded as UTF-8, bytes literals taken byte for byte.
 * Supports the escapes `repr()` writes. Never evaluates anything.
 */
export function parsePythonLiteral(src: string): Uint8Array {
  let i = 0;
  let isBytes = false;
  if (src[i] === "b" || src[i] === "B") {
    isBytes = true;
    i++;
  }
  const quote = src[i];
  if ((quote !== "'" && quote !== '"') || src[src.length - 1] !== quote || src.length < i + 2) {
    throw new SyntaxError(`Not a quoted Python literal: ${src}`);
  }
  const body = src.slice(i + 1, -1);
  const out: number[] = [];
  const enc = new TextEncoder();
  const pushCode = (cp: number) => {
    if (isBytes) {
      if (cp > 0xff) throw new SyntaxError(`Non-byte value in a bytes literal: ${src}`);
      out.push(cp);
    } else out.push(...enc.encode(String.fromCodePoint(cp)));
  };
  for (let j = 0; j < body.length; j++) {
    const ch = body[j];
    if (ch !== "\\") {
      const cp = body.codePointAt(j)!;
      if (cp > 0xffff) j++;
      if (isBytes && cp > 0x7f) throw new SyntaxError(`Non-ASCII character in a bytes literal: ${src}`);
      pushCode(cp);
      continue;
    }
    const e = body[++j];
    const simple: Record<string, number> = {
      "\\": 92,
      "'": 39,
      '"': 34,
      n: 10,
      r: 13,
      t: 9,
      a: 7,
      b: 8,
      f: 12,
      v: 11,
      "0": 0,
    };
    if (e === "x") {
      pushCode(hex(body.slice(j + 1, j + 3), src));
      j += 2;
    } else if (e === "u" && !isBytes) {
      pushCode(hex(body.slice(j + 1, j + 5), src));
      j += 4;
    } else if (e === "U" && !isBytes) {
      pushCode(hex(body.slice(j + 1, j + 9), src));
      j += 8;
    } else if (e in simple) {
      pushCode(simple[e]);
    } else {
      throw new SyntaxError(`Unsupported escape \\${e} in ${src}`);
    }
  }
  return new Uint8Array(out);
}

function hex(digits: string, src: string): number {
  if (!/^[0-9a-fA-F]+$/.test(digits)) throw new SyntaxError(`Bad hex escape in ${src}`);
  return parseInt(digits, 16);
}
