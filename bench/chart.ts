/**
 * A horizontal bar chart as SVG text, drawn from benchmark figures: one bar a row at its median,
 * with a line across the spread of the round medians (lowest to highest). No dependency: the bench
 * writes the chart beside its results, and BENCHMARKS.md shows it.
 */
import type { Figure } from './sections.js';

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChartSvg(title: string, unit: string, rows: Array<{ label: string; figure: Figure }>): string {
  // Room for the longest label at ~6.6 px a character of 12 px sans-serif.
  const labelWidth = Math.ceil(Math.max(...rows.map((row) => row.label.replace(/`/g, '').length)) * 6.6) + 16;
  const barWidth = 360;
  const rowHeight = 30;
  const top = 40;
  const width = labelWidth + barWidth + 90;
  const height = top + rows.length * rowHeight + 20;
  const most = Math.max(...rows.map((row) => row.figure.max)) || 1;
  const x = (value: number) => labelWidth + (value / most) * barWidth;
  const bars = rows.map(({ label, figure }, i) => {
    const y = top + i * rowHeight;
    const mid = y + rowHeight / 2;
    return [
      `<text x="${labelWidth - 8}" y="${mid + 4}" text-anchor="end">${escapeXml(label.replace(/`/g, ''))}</text>`,
      `<rect x="${labelWidth}" y="${y + 6}" width="${(x(figure.median) - labelWidth).toFixed(1)}" height="${rowHeight - 12}" fill="#4a7ab5"/>`,
      `<line x1="${x(figure.min).toFixed(1)}" x2="${x(figure.max).toFixed(1)}" y1="${mid}" y2="${mid}" stroke="#111" stroke-width="1.5"/>`,
      `<text x="${(x(figure.max) + 6).toFixed(1)}" y="${mid + 4}">${figure.median.toFixed(2)} ${escapeXml(unit)}</text>`,
    ].join('');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>
${bars.join('\n')}
</svg>
`;
}
