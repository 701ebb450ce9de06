/**
 * `string-width` for the yargs bundled into dist/cli/ (src/build/cli.js aliases it). yargs lays out help with it
 * and renders the help of every command it runs, even when nothing prints it; the real package segments
 * graphemes with Intl.Segmenter and Unicode tables, ~8 MB and ~50 ms of start-up. starling's help is ASCII and a
 * few narrow symbols (…, →, −). This counts code points after removing ANSI escapes: 0 for controls, marks and
 * zero-width characters, 2 for the East Asian Wide and Fullwidth blocks, else 1. Emoji sequences and Hangul
 * jamo, which the real one measures as one cluster, can come out wider here: only help's alignment changes.
 */

/** ANSI escape sequences (CSI and OSC), as strip-ansi's ansi-regex matches them. */
const ANSI =
  // eslint-disable-next-line no-control-regex
  /[\u001B\u009B][[\]()#;?]*(?:\d{1,4}(?:[;:]\d{0,4})*)?[\dA-PR-TZcf-nq-uy=><~]|\u001B\][^\u0007]*\u0007/g;
const ZERO_WIDTH =
  /[\p{Control}\p{Format}\p{Nonspacing_Mark}\p{Enclosing_Mark}\p{Default_Ignorable_Code_Point}]/u;
/** East Asian Wide and Fullwidth ranges (Unicode EastAsianWidth.txt, W and F), as [first, last] pairs. */
const WIDE = [
  0x1100, 0x115f, 0x231a, 0x231b, 0x2329, 0x232a, 0x23e9, 0x23ec, 0x23f0, 0x23f0, 0x23f3, 0x23f3, 0x25fd,
  0x25fe, 0x2614, 0x2615, 0x2648, 0x2653, 0x267f, 0x267f, 0x2693, 0x2693, 0x26a1, 0x26a1, 0x26aa, 0x26ab,
  0x26bd, 0x26be, 0x26c4, 0x26c5, 0x26ce, 0x26ce, 0x26d4, 0x26d4, 0x26ea, 0x26ea, 0x26f2, 0x26f3, 0x26f5,
  0x26f5, 0x26fa, 0x26fa, 0x26fd, 0x26fd, 0x2705, 0x2705, 0x270a, 0x270b, 0x2728, 0x2728, 0x274c, 0x274c,
  0x274e, 0x274e, 0x2753, 0x2755, 0x2757, 0x2757, 0x2795, 0x2797, 0x27b0, 0x27b0, 0x27bf, 0x27bf, 0x2b1b,
  0x2b1c, 0x2b50, 0x2b50, 0x2b55, 0x2b55, 0x2e80, 0x303e, 0x3041, 0x33ff, 0x3400, 0x4dbf, 0x4e00, 0xa4cf,
  0xa960, 0xa97f, 0xac00, 0xd7a3, 0xf900, 0xfaff, 0xfe10, 0xfe19, 0xfe30, 0xfe6f, 0xff00, 0xff60, 0xffe0,
  0xffe6, 0x16fe0, 0x18cff, 0x1b000, 0x1b2ff, 0x1f004, 0x1f004, 0x1f0cf, 0x1f0cf, 0x1f18e, 0x1f18e, 0x1f191,
  0x1f19a, 0x1f200, 0x1f265, 0x1f300, 0x1f64f, 0x1f680, 0x1f6ff, 0x1f7e0, 0x1f7eb, 0x1f90c, 0x1f9ff, 0x1fa70,
  0x1faff, 0x20000, 0x3fffd,
];

function isWide(codePoint) {
  for (let i = 0; i < WIDE.length && codePoint >= WIDE[i]; i += 2) if (codePoint <= WIDE[i + 1]) return true;
  return false;
}

/** Printable ASCII only: as wide as it is long (nearly all of starling's help; yargs measures it often). */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export default function stringWidth(string, options = {}) {
  if (typeof string !== 'string' || string.length === 0) return 0;
  if (PRINTABLE_ASCII.test(string)) return string.length;
  const text = options.countAnsiEscapeCodes ? string : string.replace(ANSI, '');
  let width = 0;
  for (const char of text) {
    const codePoint = char.codePointAt(0);
    if (codePoint >= 0x20 && codePoint < 0x7f) width += 1;
    else if (!ZERO_WIDTH.test(char)) width += isWide(codePoint) ? 2 : 1;
  }
  return width;
}
