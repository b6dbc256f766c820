/**
 * Final-answer extraction and comparison for the supported task families: GSM8K (`#### n`, numbers
 * with commas, `$`, trailing `.0`) and MATH-style `\boxed{...}` with LaTeX normalisation.
 * Pure string functions; the verifiers in reward/verifiers.ts build on them.
 */

/** A number written the GSM8K way as a canonical decimal string (`$1,200.00` → `1200`), or null. */
export function normalizeNumber(text: string): string | null {
  const cleaned = text.trim().replace(/^\$\s*/, '').replace(/,(?=\d{3}(?:\D|$))/g, '').replace(/[.%]$/, '');
  if (!/^-?(?:\d+(?:\.\d*)?|\.\d+)$/.test(cleaned)) return null;
  const value = Number(cleaned);
  if (!Number.isFinite(value)) return null;
  return String(value);
}

const NUMBER_PATTERN = /-?\$?\s?\d[\d,]*(?:\.\d+)?|-?\$?\s?\.\d+/g;

/**
 * The answer a GSM8K-style completion states: the number after the last `####`, else after
 * "the answer is", else the last number in the text; null when there is none.
 */
export function extractGsm8kAnswer(text: string): string | null {
  const marked = /####\s*([^\n]*)/g;
  let lastMarked: string | null = null;
  for (const match of text.matchAll(marked)) lastMarked = match[1] ?? null;
  const candidates = [lastMarked, /the (?:final )?answer is[:\s]*([^\n]*)/i.exec(text)?.[1] ?? null];
  for (const candidate of candidates) {
    if (candidate === null) continue;
    const first = candidate.match(NUMBER_PATTERN)?.[0];
    const number = first === undefined ? null : normalizeNumber(first.replace(/\s/g, ''));
    if (number !== null) return number;
  }
  const all = text.match(NUMBER_PATTERN) ?? [];
  const last = all.at(-1);
  return last === undefined ? null : normalizeNumber(last.replace(/\s/g, ''));
}

/** The contents of the last `\boxed{...}` (or `\fbox{...}`), braces balanced; null when there is none. */
export function extractBoxed(text: string): string | null {
  const start = Math.max(text.lastIndexOf('\\boxed{'), text.lastIndexOf('\\fbox{'));
  if (start < 0) return null;
  const open = text.indexOf('{', start);
  let depth = 0;
  for (let index = open; index < text.length; index++) {
    if (text[index] === '{') depth += 1;
    else if (text[index] === '}') {
      depth -= 1;
      if (depth === 0) return text.slice(open + 1, index);
    }
  }
  return null;
}

const UNIT_WORDS = /\\(?:text|mbox|mathrm)\{\s*(?:units?|cm|m|km|inches|inch|feet|ft|meters?|degrees?|dollars?|cents?|hours?|minutes?|seconds?|days?|sq\.?\s*units?)\s*\}/g;

/**
 * MATH answer normalisation: spaces, `\left`/`\right`, `\!`, `^\circ`, `\$`, unit words, `\dfrac`/`\tfrac`,
 * `\frac12` shorthand, `a/b` written as `\frac{a}{b}`, a leading `x =`, trailing `.0`, and a leading 0 on decimals.
 */
export function normalizeMathAnswer(answer: string): string {
  let text = answer.trim();
  text = text.replace(UNIT_WORDS, '');
  text = text.replace(/\\text\{\s*([^}]*)\}/g, '$1');
  text = text.replace(/\\left|\\right/g, '');
  text = text.replace(/\\[!,;:]|\\ /g, '');
  text = text.replace(/\^\{?\\circ\}?/g, '').replace(/\\circ/g, '');
  text = text.replace(/\\\$|\$/g, '');
  text = text.replace(/\\[dt]frac/g, '\\frac');
  text = text.replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}');
  text = text.replace(/\\frac\{?(\d)\}?(?=\{)/g, '\\frac{$1}');
  text = text.replace(/\s+/g, '');
  text = text.replace(/^[a-zA-Z]\w*=/, '');
  text = text.replace(/^(-?\d+)\/(\d+)$/, '\\frac{$1}{$2}');
  text = text.replace(/(\d+)\.0+(?!\d)/g, '$1');
  text = text.replace(/(^|[^\d])\.(\d)/g, '$10.$2');
  text = text.replace(/^\{(.*)\}$/, '$1');
  return text;
}

export function mathAnswersEqual(a: string, b: string): boolean {
  const left = normalizeMathAnswer(a);
  const right = normalizeMathAnswer(b);
  if (left === right) return true;
  const leftNumber = normalizeNumber(left);
  return leftNumber !== null && leftNumber === normalizeNumber(right);
}
