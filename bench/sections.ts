/**
 * What the benchmark modules share: the log, the round statistic (a figure is the median of the
 * rounds' values, with their spread), and BENCHMARKS.md's marked sections, which a module's own
 * command (`npm run bench:spawn`, `bench:server`) rewrites alone.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

export const log = (text: string) => process.stderr.write(`${text}\n`);

export interface Figure {
  /** Median of the round values. */
  median: number;
  /** Lowest and highest round value. */
  min: number;
  max: number;
  rounds: number;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export const figure = (roundValues: number[]): Figure => ({
  median: median(roundValues),
  min: Math.min(...roundValues),
  max: Math.max(...roundValues),
  rounds: roundValues.length,
});

/** A section between its markers, as BENCHMARKS.md holds it. */
export const marked = (name: string, section: string) => `<!-- ${name} -->\n${section}<!-- /${name} -->`;

/** Puts `section` between its markers in BENCHMARKS.md (at the end, the first time). */
function replaceSection(name: string, section: string): void {
  const file = new URL('../BENCHMARKS.md', import.meta.url);
  const text = readFileSync(file, 'utf8');
  const markers = new RegExp(`<!-- ${name} -->[\\s\\S]*<!-- /${name} -->`);
  const replacement = marked(name, section);
  writeFileSync(file, markers.test(text) ? text.replace(markers, () => replacement) : `${text.trimEnd()}\n\n${replacement}\n`);
}

/**
 * A section's own command: measures (`--quick`: small sizes) or, with `--render`, rereads the last
 * full run's results; keeps the results in bench/results/NAME[-quick].json; prints the section, and
 * (not quick) writes it into BENCHMARKS.md.
 */
export async function sectionCommand<R>(name: string, measure: (quick: boolean) => Promise<R>, render: (report: R) => string): Promise<void> {
  const quick = process.argv.includes('--quick');
  const rendering = process.argv.includes('--render');
  const results = new URL('./results/', import.meta.url);
  const report: R = rendering ? JSON.parse(readFileSync(new URL(`${name}.json`, results), 'utf8')) : await measure(quick);
  if (!rendering) {
    mkdirSync(results, { recursive: true });
    writeFileSync(new URL(quick ? `${name}-quick.json` : `${name}.json`, results), `${JSON.stringify(report, null, 2)}\n`);
  }
  const section = render(report);
  if (!quick) replaceSection(name, section);
  process.stdout.write(section);
}
