/**
 * Where JSON.parse gave up, as line and column. V8's messages do not always
 * carry a position, so a small scanner walks the text to the first byte that
 * cannot continue a valid document. Iterative: hostile input cannot
 * exhaust the stack.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const stack: Array<'{' | '['> = [];
  const ws = () => {
    while (i < n && ' \t\r\n'.includes(text[i]!)) i++;
  };
  const literal = (word: string) => {
    if (text.startsWith(word, i)) i += word.length;
    else throw i;
  };
  const string = () => {
    i++; // opening quote
    while (i < n) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) throw i;
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else throw i;
      } else if (c < ' ') throw i;
      else i++;
    }
    throw i;
  };
  const numberPattern = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
  const number = () => {
    numberPattern.lastIndex = i;
    const m = numberPattern.exec(text);
    if (!m) throw i;
    i += m[0].length;
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      ws();
      if (text[i] === (c === '{' ? '}' : ']')) {
        stack.pop();
        i++;
        return true;
      }
      if (c === '{') key();
      return false; // an element follows
    }
    if (c === '"') string();
    else if (c === 't') literal('true');
    else if (c === 'f') literal('false');
    else if (c === 'n') literal('null');
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) number();
    else throw i;
    return true;
  };
  const key = () => {
    ws();
    if (text[i] !== '"') throw i;
    string();
    ws();
    if (text[i] !== ':') throw i;
    i++;
  };
  try {
    let complete = value();
    for (;;) {
      while (complete && stack.length > 0) {
        ws();
        const top = stack[stack.length - 1]!;
        if (text[i] === ',') {
          i++;
          if (top === '{') key();
          complete = false;
        } else if (text[i] === (top === '{' ? '}' : ']')) {
          stack.pop();
          i++;
        } else throw i;
      }
      if (complete) break;
      complete = value();
    }
    ws();
    return i < n ? i : -1;
  } catch (at) {
    return at as number;
  }
}

export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
