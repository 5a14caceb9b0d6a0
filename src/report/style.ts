/** The report page's stylesheet (uPlot's own CSS is inlined beside it). */
export const PAGE_CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a; background: #fff; margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; }
h1 { font-size: 22px; margin: 4px 0 2px; }
h2 { font-size: 18px; margin: 28px 0 4px; padding-top: 12px; border-top: 2px solid #d8dde3; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta, .hint { color: #57606a; margin: 2px 0 6px; }
.hint { font-size: 12.5px; }
pre.command { background: #f4f6f8; border: 1px solid #d8dde3; border-radius: 4px; padding: 6px 10px; white-space: pre-wrap; word-break: break-all; font-size: 12.5px; margin: 6px 0; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { border: 1px solid #d8dde3; padding: 3px 8px; text-align: left; vertical-align: top; }
thead th { background: #f4f6f8; font-weight: 600; }
tbody th { font-weight: 500; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.best { background: #e6f4ea; }
caption { caption-side: top; text-align: left; color: #57606a; font-size: 12.5px; padding-bottom: 2px; }
.sigma { font-weight: 400; color: #57606a; font-size: 11.5px; }
table.settings th { background: #f9fafb; }
.notes { margin: 4px 0; padding-left: 20px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, 420px); gap: 14px 20px; margin: 8px 0; }
.chart { width: 420px; }
.chart .empty { width: 420px; height: 80px; display: flex; align-items: center; justify-content: center; color: #57606a; border: 1px dashed #c4cad1; }
.uplot .u-title { font-size: 13px; font-weight: 600; }
.uplot .u-legend { font-size: 11.5px; line-height: 1.3; }
.uplot .u-legend .u-series { padding: 0 4px; }
.uplot .u-legend .u-series > * { padding: 1px; }
#errors { color: #b00020; background: #fdecee; border: 1px solid #f1b5bd; padding: 8px 24px; }
nav.toc { margin: 6px 0; }
nav.toc a { margin-right: 12px; }
`;
