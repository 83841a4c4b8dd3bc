/**
 * The benchmark chart, as a self-contained SVG: per contender, a stacked bar of its hibernation
 * phases and one of its resume phases side by side, on a common seconds axis.
 */
import type { Phase } from './figures.js';
import type { ContenderSummary } from './summary.js';

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac', '#86bcb6', '#d37295'];

const BAR = 34;
const BAR_GAP = 8;
const GROUP_GAP = 46;
const LEFT = 56;
const TOP = 48;
const PLOT_HEIGHT = 300;
const LEGEND_WIDTH = 190;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tick step of 1, 2 or 5 × 10^n seconds giving about six gridlines. */
function tickStep(maxSeconds: number): number {
  const rough = maxSeconds / 6;
  const power = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= rough)!;
}

export function renderChart(summaries: readonly ContenderSummary[], title: string): string {
  const colours = new Map<string, string>();
  for (const s of summaries) {
    for (const phase of [...s.hibernatePhases, ...s.resumePhases]) {
      if (!colours.has(phase.name)) colours.set(phase.name, PALETTE[colours.size % PALETTE.length]!);
    }
  }
  const total = (phases: Phase[]) => phases.reduce((sum, p) => sum + p.ms, 0) / 1000;
  const maxSeconds = Math.max(1, ...summaries.flatMap((s) => [total(s.hibernatePhases), total(s.resumePhases)]));
  const step = tickStep(maxSeconds);
  const axisMax = Math.ceil(maxSeconds / step) * step;
  const y = (secondsValue: number) => TOP + PLOT_HEIGHT - (secondsValue / axisMax) * PLOT_HEIGHT;

  const groupWidth = 2 * BAR + BAR_GAP;
  const plotWidth = summaries.length * groupWidth + (summaries.length + 1) * GROUP_GAP;
  const width = LEFT + plotWidth + LEGEND_WIDTH;
  const height = TOP + PLOT_HEIGHT + 70;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="22" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];

  for (let tick = 0; tick <= axisMax + 1e-9; tick += step) {
    const ty = y(tick).toFixed(1);
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`,
      `<text x="${LEFT - 6}" y="${ty}" text-anchor="end" dominant-baseline="middle">${Number(tick.toFixed(3))} s</text>`,
    );
  }

  summaries.forEach((s, i) => {
    const groupX = LEFT + GROUP_GAP + i * (groupWidth + GROUP_GAP);
    const bars: [string, Phase[]][] = [
      ['hibernate', s.hibernatePhases],
      ['resume', s.resumePhases],
    ];
    bars.forEach(([name, phases], b) => {
      const x = groupX + b * (BAR + BAR_GAP);
      let base = 0;
      for (const phase of phases) {
        const top = base + phase.ms / 1000;
        parts.push(
          `<rect x="${x}" y="${y(top).toFixed(1)}" width="${BAR}" height="${(y(base) - y(top)).toFixed(1)}" fill="${colours.get(phase.name)}">` +
            `<title>${escapeXml(`${s.label}, ${name}: ${phase.name} ${(phase.ms / 1000).toFixed(2)} s`)}</title></rect>`,
        );
        base = top;
      }
      parts.push(
        `<text x="${x + BAR / 2}" y="${(y(base) - 4).toFixed(1)}" text-anchor="middle">${base.toFixed(1)}</text>`,
        `<text x="${x + BAR / 2}" y="${TOP + PLOT_HEIGHT + 13}" text-anchor="middle" fill="#555">${name === 'hibernate' ? 'hib.' : 'res.'}</text>`,
      );
    });
    // Two lines, so that labels stay within their group: "hiberkit" over "--compress lz4".
    const [first, ...rest] = s.label.split(' ');
    [first!.replace(/,$/, ''), rest.join(' ')].forEach((line, l) => {
      parts.push(`<text x="${groupX + groupWidth / 2}" y="${TOP + PLOT_HEIGHT + 30 + l * 14}" text-anchor="middle">${escapeXml(line)}</text>`);
    });
  });
  parts.push(`<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`);

  const legendX = LEFT + plotWidth + 20;
  [...colours].forEach(([name, colour], i) => {
    const ly = TOP + i * 18;
    parts.push(`<rect x="${legendX}" y="${ly}" width="12" height="12" fill="${colour}"/>`, `<text x="${legendX + 18}" y="${ly + 10}">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
