/** Text for the report page: escaping for HTML, JSON and inlined code, and number formats. */

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);
}

/**
 * JSON for a `<script type="application/json">` element: every `<` is written as `\u003c`
 * (so neither `</script>` nor `<!--` can appear), which JSON.parse reads back unchanged.
 * Non-finite numbers become null, as with JSON.stringify.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Guards inlined code against closing its element early (`</script`, `</style`). */
export function inlineCode(code: string, tag: "script" | "style"): string {
  return code.replace(new RegExp(`</(${tag})`, "gi"), "<\\/$1");
}

/** Four significant digits; exponent notation for very small or large magnitudes. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (x === 0) return "0";
  const a = Math.abs(x);
  const s = a < 1e-3 || a >= 1e5 ? x.toExponential(2) : x.toPrecision(4);
  return s.replace(/^-/, "−");
}

/** Short form for σ values and settings: up to 4 significant digits, trailing zeros dropped. */
export function shortNumber(x: number): string {
  if (!Number.isFinite(x)) return formatNumber(x);
  return String(Number(x.toPrecision(4))).replace(/^-/, "−");
}

/** An HTML subscript. */
export function sub(i: number): string {
  return `<sub>${i}</sub>`;
}
