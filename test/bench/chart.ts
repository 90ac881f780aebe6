// The bench's chart as a standalone SVG: intake per scaling cell beside the baseline (median
// with min–max), and the decision→event latency percentiles of the worker beside its baseline's,
// with the target (2× the baseline's p99).
interface ChartInput {
  machine: { cores: number };
  matrix: Array<{ partitions: number; instances: number; intake: number[]; baseline: number[] }>;
  main: {
    latencyMs: { offeredPerSecond: number; p50: number; p95: number; p99: number };
    latencyBaselineMs: { p50: number; p95: number; p99: number };
  };
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const mean = (v: number[]): number => (v.length ? Math.round(v.reduce((a, b) => a + b, 0) / v.length) : 0);

export function renderChart({ machine, matrix, main }: ChartInput): string {
  const width = 900;
  const height = 360;
  const parts: string[] = [];
  const text = (x: number, y: number, s: string, extra = ''): void => void parts.push(`<text x="${x}" y="${y}" ${extra}>${esc(s)}</text>`);

  // Left: scaling. One group per partition count: baseline, 1 worker, 2 workers.
  const left = { x: 60, y: 40, w: 480, h: 260 };
  const series = [
    { name: 'baseline', color: '#9e9e9e', values: (p: number) => matrix.find((c) => c.partitions === p && c.instances === 1)?.baseline ?? [] },
    { name: '1 worker', color: '#1f77b4', values: (p: number) => matrix.find((c) => c.partitions === p && c.instances === 1)?.intake ?? [] },
    { name: '2 workers', color: '#ff7f0e', values: (p: number) => matrix.find((c) => c.partitions === p && c.instances === 2)?.intake ?? [] },
  ];
  const all = matrix.flatMap((c) => [...c.intake, ...c.baseline]);
  const top = Math.max(1, ...all) * 1.1;
  const scaleY = (v: number): number => left.y + left.h - (v / top) * left.h;
  text(left.x, 24, `Intake, requests/s (mean, min–max), ${machine.cores} cores`, 'font-weight="bold"');
  for (let t = 0; t <= 4; t += 1) {
    const v = (top / 4) * t;
    parts.push(`<line x1="${left.x}" x2="${left.x + left.w}" y1="${scaleY(v)}" y2="${scaleY(v)}" stroke="#eee"/>`);
    text(left.x - 8, scaleY(v) + 4, String(Math.round(v)), 'text-anchor="end" font-size="11"');
  }
  [1, 2, 4].forEach((p, gi) => {
    const groupX = left.x + 20 + gi * 155;
    series.forEach((s, si) => {
      const values = s.values(p);
      if (!values.length) return;
      const x = groupX + si * 42;
      const m = mean(values);
      parts.push(`<rect x="${x}" y="${scaleY(m)}" width="36" height="${left.y + left.h - scaleY(m)}" fill="${s.color}"/>`);
      const lo = Math.min(...values);
      const hi = Math.max(...values);
      parts.push(`<line x1="${x + 18}" x2="${x + 18}" y1="${scaleY(lo)}" y2="${scaleY(hi)}" stroke="#000"/>`);
      text(x + 18, scaleY(m) - 4, String(m), 'text-anchor="middle" font-size="10"');
    });
    text(groupX + 60, left.y + left.h + 18, `${p} partition${p > 1 ? 's' : ''}`, 'text-anchor="middle" font-size="12"');
  });
  series.forEach((s, i) => {
    parts.push(`<rect x="${left.x + i * 110}" y="${left.y + left.h + 32}" width="12" height="12" fill="${s.color}"/>`);
    text(left.x + 16 + i * 110, left.y + left.h + 42, s.name, 'font-size="12"');
  });

  // Right: latency percentiles, worker beside baseline, with the target.
  const right = { x: 640, y: 40, w: 220, h: 260 };
  const l = main.latencyMs;
  const b = main.latencyBaselineMs;
  const target = 2 * b.p99;
  const groups: Array<[string, number, number]> = [['p50', l.p50, b.p50], ['p95', l.p95, b.p95], ['p99', l.p99, b.p99]];
  const lTop = Math.max(target, ...groups.map(([, w]) => w)) * 1.1;
  const ly = (v: number): number => right.y + right.h - (v / lTop) * right.h;
  text(right.x - 40, 24, `Decision→event latency, ms @${l.offeredPerSecond}/s`, 'font-weight="bold"');
  groups.forEach(([name, worker, limit], i) => {
    const x = right.x + i * 72;
    for (const [k, v, color] of [[0, limit, '#9e9e9e'], [1, worker, '#2ca02c']] as Array<[number, number, string]>) {
      parts.push(`<rect x="${x + k * 30}" y="${ly(v)}" width="28" height="${right.y + right.h - ly(v)}" fill="${color}"/>`);
      text(x + k * 30 + 14, ly(v) - 4, String(v), 'text-anchor="middle" font-size="10"');
    }
    text(x + 29, right.y + right.h + 18, name, 'text-anchor="middle" font-size="12"');
  });
  text(right.x, right.y + right.h + 42, 'grey: baseline, green: worker', 'font-size="11"');
  parts.push(`<line x1="${right.x - 5}" x2="${right.x + right.w}" y1="${ly(target)}" y2="${ly(target)}" stroke="#d62728" stroke-dasharray="4 3"/>`);
  text(right.x + right.w, ly(target) - 4, `target ${target} (2× baseline p99)`, 'text-anchor="end" font-size="10" fill="#d62728"');

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join('\n')}
</svg>
`;
}
