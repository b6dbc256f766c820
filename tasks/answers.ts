/**
 * Final answers of word-problem tasks: where a completion states its answer (`#### n` the GSM8K way,
 * "the answer is", `\boxed{...}`), and whether it equals the reference answer. Numbers and MATH-style
 * LaTeX answers are read by @cortex-js/compute-engine (LaTeX → expression), then compared
 * structurally, numerically (1e-9 relative) or symbolically. Pure code: no I/O, no Node built-ins.
 */
import { ComputeEngine, type Expression } from '@cortex-js/compute-engine';
import type { AnswerKind, Extraction } from './config.ts';

// ---------------------------------------------------------------------------------------------
// Extraction
// ---------------------------------------------------------------------------------------------

/** A number as written in prose: `-3`, `$1,200.50`, `0.5`, `.5`, `1/2` (a minus only where it cannot be subtraction). */
const PROSE_NUMBER = /(?:(?<![\w)\]}.])-\s?)?\$?\s?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:\/\d+)?|\.\d+)/g;

/** What follows a marker: its first non-empty line, the boxed part if it holds one, without a closing period. */
function answerAfterMarker(rest: string): string | null {
  const line = rest.replace(/^\s+/, '').split('\n', 1)[0] ?? '';
  const boxed = extractBoxed(line);
  const answer = (boxed ?? line.replace(/\.(?:\s.*)?$/, '')).trim();
  return answer === '' ? null : answer;
}

/**
 * The answer a GSM8K-style completion states, as written (trimmed, not normalised): the text after the
 * last `####` (its first line), else after the last "the (final) answer is", else (flexible only) the
 * last number in the text; null when there is none.
 */
export function extractHashAnswer(text: string, extraction: Extraction): string | null {
  const hash = text.lastIndexOf('####');
  if (hash >= 0) {
    const answer = answerAfterMarker(text.slice(hash + 4));
    if (answer !== null) return answer;
  }
  const phrases = [...text.matchAll(/the (?:final )?answer is\s*:?/gi)];
  const phrase = phrases.at(-1);
  if (phrase !== undefined) {
    const answer = answerAfterMarker(text.slice(phrase.index + phrase[0].length));
    if (answer !== null) return answer;
  }
  return extraction === 'flexible' ? lastNumber(text) : null;
}

/** The text's last number (lm-eval's flexible extract): what a reader finds when no marker states the answer. */
export function lastNumber(text: string): string | null {
  const last = [...text.matchAll(PROSE_NUMBER)].at(-1);
  return last === undefined ? null : last[0].replace(/\s/g, '');
}

/** Whether the character at `index` is escaped by a backslash (`\{`, `\}`). */
function isEscaped(text: string, index: number): boolean {
  let slashes = 0;
  for (let at = index - 1; at >= 0 && text[at] === '\\'; at--) slashes += 1;
  return slashes % 2 === 1;
}

/** The group that opens at `open` (a `{`), braces balanced and `\{`/`\}` skipped; null when it never closes. */
function bracedGroup(text: string, open: number): string | null {
  let depth = 0;
  for (let index = open; index < text.length; index++) {
    const char = text[index];
    if ((char !== '{' && char !== '}') || isEscaped(text, index)) continue;
    depth += char === '{' ? 1 : -1;
    if (depth === 0) return text.slice(open + 1, index);
  }
  return null;
}

/**
 * The contents of the last `\boxed{...}` or `\fbox{...}` (braces balanced), or the token of a
 * brace-less `\boxed 5`; null when there is none.
 */
export function extractBoxed(text: string): string | null {
  const commands = [...text.matchAll(/\\(?:boxed|fbox)(?![a-zA-Z])/g)];
  for (let at = commands.length - 1; at >= 0; at--) {
    const command = commands[at]!;
    const after = command.index + command[0].length;
    const open = /^\s*\{/.exec(text.slice(after));
    if (open !== null) {
      const group = bracedGroup(text, after + open[0].length - 1);
      if (group !== null) return group.trim();
      continue;
    }
    const token = /^\s+([^\s$]+)/.exec(text.slice(after))?.[1]?.replace(/[.,;]$/, '');
    if (token !== undefined && token !== '') return token;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// The compute engine
// ---------------------------------------------------------------------------------------------

let engine: ComputeEngine | null = null;

/**
 * The one shared engine, made on first use: constructing it and its first parse take a few hundred
 * ms, spent here, outside any comparison's time limit.
 */
function computeEngine(): ComputeEngine {
  if (engine === null) {
    engine = new ComputeEngine();
    engine.pushScope();
    try {
      const warm = engine.parse(String.raw`\frac{1}{2}+\sqrt{3}x-(1,2)`);
      warm.N();
      warm.isEqual(engine.parse(String.raw`\frac{x}{2}`));
    } finally {
      engine.popScope();
    }
  }
  return engine;
}

/** Wall-clock limit of one comparison's parsing and evaluation (a pathological answer such as `(10^{10^9})!`). */
const ENGINE_TIME_LIMIT_MS = 500;
/** Answers longer than this (after cleaning) are compared as text only. */
const MAX_PARSED_LENGTH = 400;
const RELATIVE_TOLERANCE = 1e-9;

/**
 * Runs `fn` with the engine in a scope of its own (so the symbols an answer introduces do not outlive
 * the comparison) and under a time limit; any failure, the time limit included, gives false.
 */
function withEngine(fn: (ce: ComputeEngine) => boolean): boolean {
  try {
    const ce = computeEngine();
    return ce.withTimeLimit(ENGINE_TIME_LIMIT_MS, () => {
      ce.pushScope();
      try {
        return fn(ce);
      } finally {
        ce.popScope();
      }
    });
  } catch {
    return false;
  }
}

/** Operators whose evaluation would change the shared engine (`x := 4` assigns x for every later answer). */
const SIDE_EFFECT_OPERATORS = /"(?:Assign|Declare|Define|Function|Block|Hold)"/;

/** The parsed answer, or null when it does not parse cleanly or could change the engine if evaluated. */
function parseLatex(ce: ComputeEngine, latex: string): Expression | null {
  const expression = ce.parse(latex);
  if (!expression.isValid) return null;
  if (SIDE_EFFECT_OPERATORS.test(JSON.stringify(expression.json))) return null;
  return expression;
}

/** Equal integers exactly (`1000000001` is not `1000000000`), other values within 1e-9 relative. */
function closeEnough(a: number, b: number): boolean {
  if (a === b) return true;
  if (Number.isSafeInteger(a) && Number.isSafeInteger(b)) return false;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= RELATIVE_TOLERANCE * Math.max(Math.abs(a), Math.abs(b));
}

interface Complex {
  re: number;
  im: number;
}

/** The numeric value of an expression without unknowns (`\frac12`, `2\sqrt3`, `\pi/2`), or null. */
function numericValue(expression: Expression): Complex | null {
  if (expression.unknowns.length > 0) return null;
  const value = expression.N();
  const re = value.re;
  const im = value.im;
  if (Number.isNaN(re) || Number.isNaN(im)) return null;
  return { re, im };
}

function valuesEqual(a: Complex, b: Complex): boolean {
  return closeEnough(a.re, b.re) && closeEnough(a.im, b.im);
}

// ---------------------------------------------------------------------------------------------
// Numbers (GSM8K)
// ---------------------------------------------------------------------------------------------

interface ReadNumber {
  value: number;
  /** Written with a percent sign: `50%` is compared both as 50 and as 0.5. */
  percent: boolean;
}

/** The first number of a text: a LaTeX fraction, `a/b`, a decimal; minus only where it cannot be subtraction. */
const NUMBER_TOKEN = /(?<![\w.])-?\s*(?:\d+\s+\d+\s*\/\s*\d+(?![\d.])|\\frac\s*(?:\{[^{}]*\}|\d)\s*(?:\{[^{}]*\}|\d)|\d+(?:\.\d+)?(?:\s*\/\s*\d+(?:\.\d+)?)?|\.\d+)/;

/** Spacing commands (`\!`, `\,`, `\;`, `\ `, `~`), matched after any `\\` line break so that it stays whole. */
const SPACING = /\\\\|\\[!,;: ]|~/g;

/** `\!` and `\,` vanish (`1\,000` is 1000), the wider spaces become a space, `\\` stays. */
function spacing(command: string): string {
  if (command === '\\\\') return command;
  return command === '\\!' || command === '\\,' ? '' : ' ';
}

/** A mixed number written in prose: `3 1/2`. */
const MIXED_NUMBER = /^(-?)\s*(\d+)\s+(\d+)\s*\/\s*(\d+)$/;

/** Strips the LaTeX and prose wrapping of a number: `\text{}`, `$`, `\!`, `{,}`, thousands commas, `\left`. */
function unwrapNumberText(text: string): string {
  return text
    .replace(/[\u2212\u2013]/g, '-')
    .replace(/\\(?:text|textbf|textrm|textnormal|mbox|mathrm)\s*\{([^{}]*)\}/g, ' $1 ')
    .replace(/\\\$|\$/g, '')
    .replace(/\\left(?![a-zA-Z])|\\right(?![a-zA-Z])/g, '')
    .replace(/\\[dt]frac(?![a-zA-Z])/g, '\\frac')
    .replace(/\{,\}/g, '')
    .replace(SPACING, spacing)
    .replace(/\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°/g, '')
    .replace(/(\d),(?=\d{3}(?!\d))/g, '$1');
}

/** Reads a number the way a grader would: `$1,200.00`, `1/2`, `\frac12`, `50%`, `18 dollars`, `x = 4`. */
function readNumber(ce: ComputeEngine, text: string): ReadNumber | null {
  let body = unwrapNumberText(text);
  const percent = /%/.test(body);
  body = body.replace(/\\?%/g, ' ');
  const equals = body.lastIndexOf('=');
  if (equals >= 0) body = body.slice(equals + 1);
  body = body.trim().replace(/[.,;:!]+$/, '').trim();
  if (body === '') return null;
  // The whole text as LaTeX when it is pure arithmetic (no words, no spaced digits `3 1/2`).
  if (!/[a-zA-Z]/.test(body.replace(/\\[a-zA-Z]+/g, '')) && !/\d\s+\d/.test(body)) {
    const value = wholeNumber(ce, body);
    if (value !== null) return { value, percent };
  }
  const token = NUMBER_TOKEN.exec(body);
  if (token === null) return null;
  const mixed = MIXED_NUMBER.exec(token[0]);
  if (mixed !== null && Number(mixed[3]) < Number(mixed[4])) {
    const magnitude = Number(mixed[2]) + Number(mixed[3]) / Number(mixed[4]);
    return { value: mixed[1] === '-' ? -magnitude : magnitude, percent };
  }
  const value = wholeNumber(ce, token[0].replace(/\s/g, ''));
  return value === null ? null : { value, percent };
}

/** A real number written as plain digits or LaTeX, or null. */
function wholeNumber(ce: ComputeEngine, latex: string): number | null {
  if (/^-?(?:\d+(?:\.\d*)?|\.\d+)$/.test(latex)) return Number(latex);
  const expression = parseLatex(ce, latex);
  if (expression === null) return null;
  const value = numericValue(expression);
  return value === null || value.im !== 0 || !Number.isFinite(value.re) ? null : value.re;
}

function numbersEqual(a: ReadNumber, b: ReadNumber): boolean {
  if (closeEnough(a.value, b.value)) return true;
  if (a.percent && !b.percent) return closeEnough(a.value / 100, b.value);
  if (b.percent && !a.percent) return closeEnough(a.value, b.value / 100);
  return false;
}

// ---------------------------------------------------------------------------------------------
// MATH-style answers
// ---------------------------------------------------------------------------------------------

/** Commands whose argument is text: a word answer (`\text{Monday}`) or a unit (`5\text{ cm}`, `\mathrm{cm}`). */
const TEXT_COMMAND = String.raw`\\(?:text|textbf|textit|textrm|textnormal|textsf|mbox|mathrm)`;
const WHOLE_TEXT = new RegExp(String.raw`^${TEXT_COMMAND}\s*\{([^{}]*)\}$`);
const TEXT_GROUP = new RegExp(String.raw`${TEXT_COMMAND}\s*\{([^{}]*)\}(\s*\^\s*\{?\s*[23]\s*\}?)?`, 'g');
const GREEK = 'alpha|beta|gamma|delta|epsilon|theta|lambda|mu|phi|psi|omega|rho|sigma|tau';
/** `x =`, `y=`, `a_1 =`, `\theta =`, `f(x) =`, `x \in` at the start of an answer. */
const LEADING_NAME = new RegExp(String.raw`^(?:[a-zA-Z]|\\(?:${GREEK}))(?:_\{?[a-zA-Z0-9]+\}?)?(?:\^\{?-1\}?)?(?:\([a-zA-Z]\))?\s*(?:=|\\in(?![a-zA-Z]))\s*`);

interface CleanMath {
  /** The answer with what LaTeX parsing cannot read removed, whitespace collapsed. */
  text: string;
  /** The answer had a percent sign (`10\%`): compared both as 10 and as 0.1. */
  percent: boolean;
  /** The whole answer was one `\text{...}`: a word answer, compared without case. */
  isText: boolean;
}

/**
 * Removes what the LaTeX parser cannot handle, or what graders ignore: `\text{}` unit words, `^\circ`,
 * `\$`, `\%`, `\left`/`\right`, spacing commands, a leading `x =`, `\dfrac`, a closing period,
 * thousands commas. A whole-answer `\text{...}` becomes its text.
 */
function cleanMath(answer: string): CleanMath {
  let text = answer.trim().replace(/[\u2212\u2013]/g, '-');
  text = text.replace(/\\\$|\$/g, '').replace(/\\displaystyle|\\mathrm\{\s*\}/g, '');
  text = text.replace(/\\left\.|\\right\./g, '').replace(/\\left(?![a-zA-Z])|\\right(?![a-zA-Z])/g, '');
  text = text.replace(/\\[dt]frac(?![a-zA-Z])/g, '\\frac');
  text = text.replace(SPACING, spacing);
  const percent = /%/.test(text);
  text = text.replace(/\\?%/g, '');
  text = text.replace(/\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|°/g, '');
  text = text.replace(/:=|\\coloneqq?(?![a-zA-Z])/g, '=');
  text = text.trim();
  const whole = WHOLE_TEXT.exec(text);
  const isText = whole !== null;
  if (whole !== null) {
    text = whole[1]!.trim();
  } else {
    // Unit words (`5\text{ cm}^2`) go; other text groups (`\text{5}`) keep their contents.
    text = text.replace(TEXT_GROUP, (_group, inner: string, power: string | undefined) => {
      const words = inner.trim();
      if (/^(?:and|or)$/i.test(words)) return ',';
      if (/^[a-zA-Z][a-zA-Z./^0-9 ]*$/.test(words) && !/^[a-zA-Z]$/.test(words)) return ' ';
      return ` ${inner} ${power ?? ''}`;
    });
  }
  // Bare unit words after a number and a space: `5 cm`, `12 square units`, `\text{7 cm}` (not `5xy`).
  text = text.replace(/(\d)\s+(?:[a-zA-Z]{2,}\.?\s*)+$/, '$1');
  text = text.trim().replace(/\s*\.$/, '').trim();
  if ((text.match(/=/g) ?? []).length === 1 || /\\in(?![a-zA-Z])/.test(text)) text = text.replace(LEADING_NAME, '');
  text = inequalityAsInterval(text) ?? text;
  if (/^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(text)) text = text.replace(/,/g, '');
  text = text.replace(/\s+/g, ' ').trim();
  return { text, percent, isText };
}

/** `<`, `\le`, `\leq`, `\leqslant`, `<=`, `\geq`…: a comparison operator, or null. */
function comparison(operator: string): { less: boolean; strict: boolean } | null {
  const match = /^(?:(<|>)(=?)|\\(le|ge)(?:q|qslant)?)$/.exec(operator);
  if (match === null) return null;
  if (match[3] !== undefined) return { less: match[3] === 'le', strict: false };
  return { less: match[1] === '<', strict: match[2] === '' };
}

const COMPARISON = String.raw`(<=?|>=?|\\[lg]e(?:qslant|q)?(?![a-zA-Z]))`;
const BOUND = String.raw`([^<>=]+?)`;
const ONE_SIDED = new RegExp(String.raw`^([a-zA-Z])\s*${COMPARISON}\s*${BOUND}$`);
const ONE_SIDED_REVERSED = new RegExp(String.raw`^${BOUND}\s*${COMPARISON}\s*([a-zA-Z])$`);
const TWO_SIDED = new RegExp(String.raw`^${BOUND}\s*${COMPARISON}\s*[a-zA-Z]\s*${COMPARISON}\s*${BOUND}$`);

/** A one-variable inequality as the interval it describes (`x \geq 3` → `[3,\infty)`), else null. */
function inequalityAsInterval(text: string): string | null {
  const interval = (low: string | null, lowStrict: boolean, high: string | null, highStrict: boolean): string | null => {
    if ([low, high].some((bound) => bound !== null && /\\[lg]e/.test(bound))) return null;
    return `${low === null || lowStrict ? '(' : '['}${low?.trim() ?? '-\\infty'},${high?.trim() ?? '\\infty'}${high === null || highStrict ? ')' : ']'}`;
  };
  const two = TWO_SIDED.exec(text);
  if (two !== null) {
    const first = comparison(two[2]!);
    const second = comparison(two[3]!);
    if (first === null || second === null || first.less !== second.less) return null;
    return first.less ? interval(two[1]!, first.strict, two[4]!, second.strict) : interval(two[4]!, second.strict, two[1]!, first.strict);
  }
  const one = ONE_SIDED.exec(text);
  if (one !== null) {
    const operator = comparison(one[2]!);
    if (operator === null) return null;
    return operator.less ? interval(null, true, one[3]!, operator.strict) : interval(one[3]!, operator.strict, null, true);
  }
  const reversed = ONE_SIDED_REVERSED.exec(text);
  if (reversed !== null) {
    const operator = comparison(reversed[2]!);
    if (operator === null) return null;
    return operator.less ? interval(reversed[1]!, operator.strict, null, true) : interval(null, true, reversed[1]!, operator.strict);
  }
  return null;
}

/** The text without spaces, for a comparison as written. */
function squeeze(text: string): string {
  return text.replace(/\s+/g, '');
}

/** A multiple-choice letter (`A`, `(A)`, `\text{(A)}` after cleaning), or null. */
function choiceLetter(text: string): string | null {
  return /^\(?\s*([A-E])\s*\)?$/.exec(text)?.[1] ?? null;
}

/** A word answer (`Monday`, `even`): a run of four or more letters outside LaTeX commands. */
function isWords(text: string): boolean {
  return /[a-zA-Z]{4,}/.test(text.replace(/\\[a-zA-Z]+/g, ''));
}

function wordKey(text: string): string {
  return text
    .replace(new RegExp(String.raw`${TEXT_COMMAND}\s*\{([^{}]*)\}`, 'g'), '$1')
    .replace(/[\s{}]/g, '')
    .toLowerCase();
}

/** Whether the whole text is one bracketed group (`(1,2)`, `[1,3)`, `\{1,2\}`), so its commas are its own. */
function isOneGroup(text: string): boolean {
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if ('([{'.includes(char)) depth += 1;
    else if (')]}'.includes(char)) {
      depth -= 1;
      if (depth === 0 && index < text.length - 1) return false;
    }
  }
  return depth === 0 && /^(?:\\\{|[([{])/.test(text);
}

/** The elements of a set written `\{1, 2\}`, else the text itself. */
function setElements(text: string): string {
  return isOneGroup(text) && text.startsWith('\\{') && text.endsWith('\\}') ? text.slice(2, -2).trim() : text;
}

/** The items between `separator`s at bracket depth 0 (`1, -2`; `A \\cup B`); one item when there is none. */
function topLevelItems(text: string, separator: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if ('([{'.includes(char)) depth += 1;
    else if (')]}'.includes(char)) depth -= 1;
    else if (depth === 0 && text.startsWith(separator, index)) {
      items.push(text.slice(start, index).trim());
      start = index + separator.length;
    }
  }
  items.push(text.slice(start).trim());
  return items;
}

/** Two cleaned answers compared by the engine: structurally, numerically, then symbolically. */
function expressionsEqual(ce: ComputeEngine, a: CleanMath, b: CleanMath): boolean {
  if (a.text.length > MAX_PARSED_LENGTH || b.text.length > MAX_PARSED_LENGTH) return false;
  const left = parseLatex(ce, a.text);
  const right = parseLatex(ce, b.text);
  if (left === null || right === null) return false;
  if (left.isSame(right)) return true;
  const leftValue = numericValue(left);
  const rightValue = numericValue(right);
  if (leftValue !== null && rightValue !== null) {
    if (valuesEqual(leftValue, rightValue)) return true;
    if (a.percent !== b.percent) {
      const scaled = a.percent ? { re: leftValue.re / 100, im: leftValue.im / 100 } : { re: rightValue.re / 100, im: rightValue.im / 100 };
      return valuesEqual(scaled, a.percent ? rightValue : leftValue);
    }
    return false;
  }
  if (left.isEqual(right) === true) return true;
  const leftUnknowns = [...left.unknowns].sort().join(',');
  const rightUnknowns = [...right.unknowns].sort().join(',');
  return leftUnknowns !== '' && leftUnknowns === rightUnknowns && left.isIdenticallyEqual(right) === true;
}

function cleanMathEqual(ce: ComputeEngine, a: CleanMath, b: CleanMath): boolean {
  if (squeeze(a.text) === squeeze(b.text)) return true;
  const letterA = choiceLetter(a.text);
  const letterB = choiceLetter(b.text);
  if (letterA !== null || letterB !== null) return letterA === letterB;
  if (a.isText || b.isText || isWords(a.text) || isWords(b.text)) {
    if (wordKey(a.text) === wordKey(b.text)) return true;
    if (isWords(a.text) || isWords(b.text)) return false;
  }
  // A bare list of solutions (`1, -2`) and a union of intervals are unordered; a set `\{1,2\}` is
  // the list of its elements when the other answer is a bare list.
  const groupA = isOneGroup(a.text);
  const groupB = isOneGroup(b.text);
  const textA = groupB ? a.text : setElements(a.text);
  const textB = groupA ? b.text : setElements(b.text);
  for (const separator of [',', '\\cup']) {
    const itemsA = isOneGroup(textA) ? [textA] : topLevelItems(textA, separator);
    const itemsB = isOneGroup(textB) ? [textB] : topLevelItems(textB, separator);
    if (itemsA.length > 1 || itemsB.length > 1) return unorderedEqual(ce, itemsA, a, itemsB, b);
  }
  return expressionsEqual(ce, { ...a, text: textA }, { ...b, text: textB });
}

/** Whether each item of one list equals a different item of the other. */
function unorderedEqual(ce: ComputeEngine, itemsA: string[], a: CleanMath, itemsB: string[], b: CleanMath): boolean {
  if (itemsA.length !== itemsB.length) return false;
  const unused = itemsB.map((text): CleanMath => ({ ...b, text }));
  for (const text of itemsA) {
    const match = unused.findIndex((other) => cleanMathEqual(ce, { ...a, text }, other));
    if (match < 0) return false;
    unused.splice(match, 1);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/** Text compared as written: trimmed, whitespace collapsed, case-folded. */
function exactKey(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}

/**
 * Whether `answer` equals the reference `gold` under the task's answer kind. `exact`: the same text up to
 * whitespace and case. `number`: both read as numbers (commas, `$`, units, `1/2`, `\frac12`, `50%`)
 * with equal values (1e-9 relative). `math`: MATH-style LaTeX, equal structurally, numerically or
 * symbolically. Never throws: what cannot be parsed is compared as cleaned text.
 */
export function answersEqual(kind: AnswerKind, answer: string, gold: string): boolean {
  if (kind === 'exact') return exactKey(answer) === exactKey(gold);
  if (kind === 'number') {
    return withEngine((ce) => {
      const left = readNumber(ce, answer);
      const right = readNumber(ce, gold);
      if (left === null && right === null) return exactKey(answer) !== '' && exactKey(answer) === exactKey(gold);
      return left !== null && right !== null && numbersEqual(left, right);
    });
  }
  const left = cleanMath(answer);
  const right = cleanMath(gold);
  if (left.text === '' || right.text === '') return false;
  if (squeeze(left.text) === squeeze(right.text)) return true;
  return withEngine((ce) => cleanMathEqual(ce, left, right));
}
