import { escapeHtml, inlineCode, jsonForScript } from "./format.js";
import { PAGE_CSS } from "./style.js";

/** One problem's panel: the reference, a run's prediction and its error on the grid, and the table rows. */
export interface PinnReportProblem {
  readonly name: string;
  readonly title: string;
  readonly equation: string;
  readonly inputs: readonly [string, string];
  /** Grid points per axis; the fields are row-major, the first input fastest, the second growing upwards. */
  readonly grid: number;
  readonly reference: readonly number[];
  readonly prediction: readonly number[];
  /** Which run the prediction is: "gradnorm, seed 0 (relative L2 1.2e-2)". */
  readonly predictionLabel: string;
  readonly rows: readonly { readonly label: string; readonly cells: readonly string[] }[];
}

/**
 * The page's script: draws each field on its canvas with a blue–white–red map for signed fields
 * (symmetric about 0) and a white–black map for the error, one pixel per grid point, scaled by CSS;
 * a field's colours span ±`scale` (default its own largest magnitude).
 */
function drawFields(): void {
  const data = JSON.parse(document.getElementById("pinn-data")!.textContent!) as { id: string; n: number; values: number[]; signed: boolean; scale?: number }[];
  for (const f of data) {
    const canvas = document.getElementById(f.id) as HTMLCanvasElement;
    canvas.width = f.n;
    canvas.height = f.n;
    const ctx = canvas.getContext("2d")!;
    const img = ctx.createImageData(f.n, f.n);
    let max = 0;
    for (const v of f.values) max = Math.max(max, Math.abs(v));
    const scale = f.scale ?? (max > 0 ? max : 1);
    for (let j = 0; j < f.n; j++) {
      for (let i = 0; i < f.n; i++) {
        const v = f.values[j * f.n + i]! / scale;
        const px = ((f.n - 1 - j) * f.n + i) * 4; // the second input grows upwards
        let r: number, g: number, b: number;
        if (f.signed) {
          const a = Math.min(1, Math.abs(v));
          [r, g, b] = v >= 0 ? [255, 255 * (1 - a), 255 * (1 - a)] : [255 * (1 - a), 255 * (1 - a), 255];
        } else {
          const a = 255 * (1 - Math.min(1, Math.abs(v)));
          [r, g, b] = [a, a, a];
        }
        img.data[px] = r;
        img.data[px + 1] = g;
        img.data[px + 2] = b;
        img.data[px + 3] = 255;
      }
    }
    ctx.putImageData(img, 0, 0);
    const label = document.getElementById(`${f.id}-max`);
    if (label) label.textContent = `max |·| ${max.toPrecision(3)}`;
  }
}

/** The PINN benchmark's report: per problem, the table and pictures of the reference, a prediction and its error. */
export function pinnReportHtml(title: string, intro: string, problems: readonly PinnReportProblem[], headers: readonly string[]): string {
  const fields: { id: string; n: number; values: number[]; signed: boolean; scale?: number }[] = [];
  const sections = problems.map((p, k) => {
    const err = p.prediction.map((v, i) => v - p.reference[i]!);
    const ids = ["ref", "pred", "err"].map((s) => `f${k}-${s}`);
    // The prediction on the reference's colour scale, so the two pictures compare directly.
    const refMax = Math.max(1e-300, ...p.reference.map(Math.abs));
    fields.push({ id: ids[0]!, n: p.grid, values: [...p.reference], signed: true }, { id: ids[1]!, n: p.grid, values: [...p.prediction], signed: true, scale: refMax }, { id: ids[2]!, n: p.grid, values: err, signed: false });
    const figure = (id: string, caption: string) => `<figure><canvas id="${id}" class="field"></canvas><figcaption>${escapeHtml(caption)} <span id="${id}-max"></span></figcaption></figure>`;
    const table = `<table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join("")}</tr></thead><tbody>${p.rows
      .map((r) => `<tr><td>${escapeHtml(r.label)}</td>${r.cells.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`)
      .join("")}</tbody></table>`;
    return `<section><h2>${escapeHtml(p.title)}</h2><p>${escapeHtml(p.equation)}</p>${table}
<div class="fields">${figure(ids[0]!, `reference u(${p.inputs.join(", ")})`)}${figure(ids[1]!, `prediction: ${p.predictionLabel}`)}${figure(ids[2]!, "|prediction − reference|")}</div></section>`;
  });
  const css = `${PAGE_CSS}
.fields { display: flex; gap: 1rem; flex-wrap: wrap; }
canvas.field { width: 240px; height: 240px; image-rendering: pixelated; border: 1px solid #ccc; }
figure { margin: 0; }
figcaption { font-size: 0.85rem; max-width: 240px; }`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title><style>${inlineCode(css, "style")}</style></head>
<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(intro)}</p>${sections.join("\n")}
<script type="application/json" id="pinn-data">${jsonForScript(fields)}</script>
<script>${inlineCode(`(${drawFields.toString()})();`, "script")}</script></body></html>`;
}

export { drawFields };
