// What `lab threads` shows: a table per mode × clients, a two-sentence
// reading generated from the numbers, and a self-contained HTML page with
// inline SVG charts (no script, no font, no network).
import type { RunResult, ThreadsResult } from './lab';
import { MODES, MODE_HELP, MODE_LABELS, type Mode } from './protocol';

const MB = 1024 * 1024;

function ms(v: number): string {
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

function int(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}

function p99Text(r: RunResult): string {
  return (r.client.censored > 0 ? '≥' : '') + ms(r.client.latencyMs.p99);
}

function p50Text(r: RunResult): string {
  return r.client.completed === 0 ? '—' : ms(r.client.latencyMs.p50);
}

function usesPool(mode: Mode): boolean {
  return mode === 'pool-default' || mode === 'pool-sized';
}

function poolText(r: RunResult): string {
  if (!usesPool(r.mode)) return '—';
  return `${r.server.poolBusyPeak}/${r.poolSize}${r.poolCapped ? ' (max)' : ''}`;
}

function rateText(r: RunResult): string {
  if (!r.frozen) return int(r.requestsPerSec);
  return `froze ${r.client.completed}/${r.client.requests}`;
}

interface Column {
  head: string;
  get: (r: RunResult) => string;
  left?: boolean;
}

const COLUMNS: Column[] = [
  { head: 'clients', get: (r) => String(r.clients) + (r.idle ? `+${r.idle}` : '') },
  { head: 'server', get: (r) => r.label, left: true },
  { head: 'sockets', get: (r) => String(r.server.loaded.sockets) },
  { head: 'threads', get: (r) => String(r.server.peak.threads) },
  { head: 'pool busy', get: poolText },
  { head: 'setup', get: (r) => (r.setupMs !== null ? ms(r.setupMs) : r.setupCutMs !== null ? `> ${ms(r.setupCutMs)}` : 'never') },
  { head: 'req/s', get: rateText },
  { head: 'p50', get: p50Text },
  { head: 'p99', get: p99Text },
  { head: 'pool wait', get: (r) => (usesPool(r.mode) ? ms(r.server.queuedNsPeak / 1e6) : '—') },
  { head: 'RSS', get: (r) => `${Math.round(r.server.peak.rssBytes / MB)} MB` },
];

const LEGEND = [
  'sockets: TCP sockets open in the server (/proc/self/fd) when it served every connection at once, else the most it held at once',
  'threads: peak OS threads of the server process; pool busy: peak calls running on libuv pool threads / pool size',
  'setup: first connect() to every connection being served (never: it stalled); pool wait: longest a call waited for a pool thread (onTrace queuedNs)',
  'p50/p99: round-trip latency at the client; ≥ marks requests still unanswered at the deadline, counted with the time they waited',
];

/** A row's cells; a skipped run says why instead of showing zeros. */
function cells(r: RunResult): string[] {
  if (!r.skipped) return COLUMNS.map((c) => c.get(r));
  return COLUMNS.map((c, i) => (i < 2 ? c.get(r) : i === 2 ? 'skipped' : ''));
}

/** The results as a plain-text table, one block of rows per client count. */
export function renderTable(result: ThreadsResult): string {
  const rows = result.runs.map(cells);
  const widths = COLUMNS.map((c, i) => Math.max(c.head.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((cell, i) => (COLUMNS[i].left ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  const out = [line(COLUMNS.map((c) => c.head))];
  result.runs.forEach((r, i) => {
    if (i > 0 && r.clients !== result.runs[i - 1].clients) out.push('');
    out.push(line(rows[i]));
  });
  for (const r of result.runs.filter((x) => x.skipped)) out.push(`  (${r.label} × ${r.clients} skipped: ${r.skipped})`);
  const warned = result.runs.find((r) => r.server.warning);
  if (warned) out.push('', `bsd-sockets' own warning in the server (${warned.label}, ${warned.clients} clients):`, `  ${warned.server.warning}`);
  const cfg = result.config;
  const head = `lab threads: ${cfg.requests} round trips of ${cfg.requestBytes} bytes per client` +
    (cfg.idle ? `, plus ${cfg.idle} idle clients` : '') +
    ` · ${result.machine.cpus} CPUs · Node ${result.machine.node} · ${(result.elapsedMs / 1000).toFixed(1)} s`;
  return [head, '', ...out, '', ...LEGEND.map((l) => `  ${l}`)].join('\n');
}

function change(from: number, to: number): string {
  if (from <= 0) return 'stayed flat';
  const r = to / from;
  if (r >= 1.5) return `rose ${r >= 10 ? Math.round(r) : r.toFixed(1)}×`;
  if (r <= 0.67) return `fell to ${(r * 100).toFixed(0)}%`;
  return 'stayed about the same';
}

function list(parts: string[]): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

const SERVER_NAMES: Record<Mode, string> = {
  'pool-default': 'the blocking server on the default pool',
  'pool-sized': 'the blocking server with its pool sized to the connections',
  'thread-per-conn': 'the thread-per-connection server',
  nonblocking: 'the non-blocking server',
};

/**
 * Two sentences from the numbers: what the biggest run needed in sockets and
 * threads, then what blocking on a pool of 4 threads did to latency (or, with
 * --idle, the slow-loris freeze).
 */
export function readingOf(result: ThreadsResult): string {
  const runs = result.runs.filter((r) => !r.skipped);
  if (runs.length === 0) return '';
  const clientCounts = [...new Set(runs.map((r) => r.clients))];
  const cMin = Math.min(...clientCounts);
  const cMax = Math.max(...clientCounts);
  const idle = result.config.idle;
  const at = (mode: Mode, c: number) => runs.find((r) => r.mode === mode && r.clients === c);
  const top = MODES.map((m) => at(m, cMax)).filter((r): r is RunResult => r !== undefined);
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const mb = (r: RunResult) => `${Math.round(r.server.peak.rssBytes / MB)} MB`;
  const full = cMax + idle + 1; // Every connection plus the listener.

  // Sentence 1: sockets follow the connections; threads follow the I/O model.
  const order: Mode[] = ['nonblocking', 'thread-per-conn', 'pool-sized', 'pool-default'];
  const parts = order.map((m) => at(m, cMax)).filter((r): r is RunResult => r !== undefined).map((r, i) => {
    const sockets = i === 0 ? plural(r.server.loaded.sockets, 'TCP socket') : String(r.server.loaded.sockets);
    const threads = plural(r.server.peak.threads, 'thread');
    const held = i === 0 ? ' held' : '';
    switch (r.mode) {
      case 'nonblocking': {
        const low = at('nonblocking', cMin);
        const same = low && cMin !== cMax && r.server.peak.threads <= low.server.peak.threads + 1;
        return `the non-blocking server${held} ${sockets} on ${threads}${same ? ` (as with ${plural(cMin, 'client')})` : ''}`;
      }
      case 'thread-per-conn':
        return `thread per connection${held} ${sockets} on ${threads} and ${mb(r)}` +
          (r.setupMs !== null && r.setupMs >= 1000 ? `, after ${ms(r.setupMs)} starting them` : '') +
          (r.setupCutMs !== null ? `, still starting them after ${ms(r.setupCutMs)}` : '');
      case 'pool-sized':
        return `the pool sized to the connections${held} ${sockets} on ${threads}` +
          (r.poolCapped ? ` (its pool capped at libuv's ${r.poolSize} threads)` : '');
      default:
        return r.server.loaded.sockets < full && !r.frozen
          ? `the default pool${held} at most ${sockets} on ${threads}, the other clients waiting in the listen backlog until accept() got a pool thread`
          : `the default pool${held} ${sockets} on ${threads}${r.frozen ? ', frozen' : ''}`;
    }
  });
  const joined = parts.length > 1 ? `${parts.slice(0, -1).join('; ')}; and ${parts[parts.length - 1]}` : parts.join('');
  const s1 = `At ${plural(cMax, 'client')}${idle ? ` plus ${idle} idle` : ''} ${joined}.`;

  // Sentence 2: the price of blocking on a pool of 4.
  const nb = at('nonblocking', cMax);
  const pd = at('pool-default', cMax);
  const frozen = runs.filter((r) => r.frozen);
  let s2: string;
  if (idle > 0 && frozen.length > 0) {
    const f = [...frozen].reverse().find((r) => r.mode === 'pool-default') ?? frozen[frozen.length - 1];
    const fine = top.filter((r) => !r.frozen).map((r) => SERVER_NAMES[r.mode]);
    s2 = `With ${plural(idle, 'idle client')} holding its threads, ${SERVER_NAMES[f.mode]} froze: ` +
      `${f.client.completed} of ${f.client.requests} requests from ${plural(f.clients, 'client')} were answered within the ` +
      `${(result.config.deadlineMs / 1000).toFixed(1)} s deadline` +
      (fine.length ? `, while ${list(fine)} answered every request at ${plural(cMax, 'client')}.` : '.');
  } else if (idle > 0) {
    s2 = `The ${plural(idle, 'idle client')} froze no server here: every request was answered before the deadline.`;
  } else if (pd && nb && cMax > 1) {
    s2 = `With ${plural(pd.poolSize, 'pool thread')} the blocking server served ${plural(cMax, 'client')} at most ${pd.server.poolBusyPeak} at a time: ` +
      `its p99 latency was ${p99Text(pd)} against ${p99Text(nb)} for the non-blocking server ` +
      `(${int(pd.requestsPerSec)} against ${int(nb.requestsPerSec)} requests/s), and a call waited up to ` +
      `${ms(pd.server.queuedNsPeak / 1e6)} for a free pool thread.`;
  } else if (pd && cMax > cMin) {
    const lo = at('pool-default', cMin) as RunResult;
    s2 = `With ${plural(pd.poolSize, 'pool thread')} the blocking server served ${plural(cMax, 'client')} at most ${pd.server.poolBusyPeak} at a time: ` +
      `its p99 latency ${change(lo.client.latencyMs.p99, pd.client.latencyMs.p99)} from ${cMin} to ${cMax} clients ` +
      `(${p99Text(lo)} → ${p99Text(pd)}) and a call waited up to ${ms(pd.server.queuedNsPeak / 1e6)} for a free pool thread.`;
  } else {
    const best = top.reduce((a, b) => (a.requestsPerSec >= b.requestsPerSec ? a : b));
    s2 = `The fastest at ${plural(cMax, 'client')} was ${best.label}: ${int(best.requestsPerSec)} requests/s, p99 ${p99Text(best)}.`;
  }
  return `${s1} ${s2}`;
}

// ---- HTML --------------------------------------------------------------------

const COLORS: Record<Mode, string> = {
  'pool-default': '#d62728',
  'pool-sized': '#ff7f0e',
  'thread-per-conn': '#9467bd',
  nonblocking: '#2ca02c',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Series {
  mode: Mode;
  points: Array<{ x: number; y: number; open?: boolean; title: string }>;
}

function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min / 1.0001 && v <= max * 1.0001) ticks.push(v);
    }
  }
  return ticks;
}

function tickText(v: number, unit: string): string {
  if (unit === 'ms' && v < 1) return `${+v.toFixed(3)}`;
  if (v >= 1000 && unit === 'ms') return `${v / 1000}s`;
  return v >= 1000 ? `${v / 1000}k` : String(+v.toPrecision(3));
}

const DASHES: Record<Mode, string> = {
  'pool-default': '',
  'pool-sized': '7 5',
  'thread-per-conn': '',
  nonblocking: '',
};

interface Reference {
  label: string;
  points: Array<{ x: number; y: number }>;
}

/**
 * A log-log line chart as inline SVG: one path per server mode (class
 * "series", data-mode), a marker per run with its numbers as a tooltip, an
 * optional grey reference line, and the legend under the plot.
 */
function chart(id: string, title: string, yLabel: string, unit: string, xs: number[], series: Series[], reference?: Reference): string {
  const W = 620;
  const legendRows = 3; // Up to five entries in two columns; the same in every chart, so they line up.
  const plotH = 280;
  const m = { l: 64, r: 16, t: 36, b: 48 + legendRows * 18 };
  const H = m.t + plotH + m.b;
  const ys = [...series.flatMap((s) => s.points.map((p) => p.y)), ...(reference?.points.map((p) => p.y) ?? [])].filter((y) => y > 0);
  const yMin = 10 ** Math.floor(Math.log10(Math.min(...ys) || 1));
  let yMax = 10 ** Math.ceil(Math.log10(Math.max(...ys) || 1));
  if (yMax <= yMin) yMax = yMin * 10;
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  if (xMax === xMin) {
    xMin /= 2;
    xMax *= 2;
  }
  const bottom = m.t + plotH;
  const lx = (x: number) => m.l + ((Math.log10(x) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * (W - m.l - m.r);
  const ly = (y: number) => bottom - ((Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
  const path = (pts: Array<{ x: number; y: number }>) => pts.map((p, i) => `${i ? 'L' : 'M'}${lx(p.x).toFixed(1)},${ly(p.y).toFixed(1)}`).join(' ');
  const parts: string[] = [];
  parts.push(`<svg id="${id}" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`);
  parts.push(`<text x="${W / 2}" y="20" text-anchor="middle" class="title">${esc(title)}</text>`);
  for (const t of logTicks(yMin, yMax)) {
    const y = ly(t).toFixed(1);
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${m.l - 6}" y="${y}" dy="0.32em" text-anchor="end" class="tick">${tickText(t, unit)}</text>`);
  }
  for (const x of xs) {
    const px = lx(x).toFixed(1);
    parts.push(`<line x1="${px}" x2="${px}" y1="${m.t}" y2="${bottom}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${bottom + 16}" text-anchor="middle" class="tick">${x}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${plotH}" class="frame"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${bottom + 34}" text-anchor="middle" class="axis">concurrent clients (log scale)</text>`);
  parts.push(`<text transform="translate(16 ${m.t + plotH / 2}) rotate(-90)" text-anchor="middle" class="axis">${esc(yLabel)}</text>`);
  if (reference) {
    parts.push(`<path class="reference" d="${path(reference.points)}" fill="none" stroke="#999" stroke-width="1.5" stroke-dasharray="2 4"/>`);
  }
  for (const s of series) {
    const color = COLORS[s.mode];
    const dash = DASHES[s.mode] ? ` stroke-dasharray="${DASHES[s.mode]}"` : '';
    parts.push(`<path class="series" data-mode="${s.mode}" d="${path(s.points)}" fill="none" stroke="${color}" stroke-width="2.5"${dash}/>`);
    for (const p of s.points) {
      const fill = p.open ? 'white' : color;
      parts.push(`<circle class="point" data-mode="${s.mode}" cx="${lx(p.x).toFixed(1)}" cy="${ly(p.y).toFixed(1)}" r="4.5" fill="${fill}" stroke="${color}" stroke-width="2"><title>${esc(p.title)}</title></circle>`);
    }
  }
  const legend = series.map((s) => ({ label: MODE_LABELS[s.mode], color: COLORS[s.mode], dash: DASHES[s.mode] }));
  if (reference) legend.push({ label: reference.label, color: '#999', dash: '2 4' });
  legend.forEach((e, i) => {
    const x = m.l + (i % 2) * ((W - m.l - m.r) / 2);
    const y = bottom + 52 + Math.floor(i / 2) * 18;
    const dash = e.dash ? ` stroke-dasharray="${e.dash}"` : '';
    parts.push(`<line x1="${x}" x2="${x + 26}" y1="${y}" y2="${y}" stroke="${e.color}" stroke-width="2.5"${dash}/>`);
    parts.push(`<text x="${x + 32}" y="${y}" dy="0.32em" class="legend">${esc(e.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The report: reading, two charts, the table and the raw JSON, in one file that needs no network. */
export function renderHtml(result: ThreadsResult): string {
  const xs = [...new Set(result.runs.map((r) => r.clients))].sort((a, b) => a - b);
  // Drawn in this order: the dashed pool-sized line over thread per connection, which it often equals.
  const modes = (['pool-default', 'thread-per-conn', 'pool-sized', 'nonblocking'] as Mode[]).filter((m) => result.runs.some((r) => r.mode === m));
  const seriesOf = (y: (r: RunResult) => number, title: (r: RunResult) => string, open?: (r: RunResult) => boolean): Series[] =>
    modes.map((mode) => ({
      mode,
      points: result.runs.filter((r) => r.mode === mode && !r.skipped).sort((a, b) => a.clients - b.clients)
        .map((r) => ({ x: r.clients, y: y(r), open: open?.(r), title: title(r) })),
    }));
  // Sockets, the same for every server that took all its connections: one per connection plus the listener.
  const reference = { label: 'TCP sockets (connections + listener)', points: xs.map((x) => ({ x, y: x + result.config.idle + 1 })) };
  const threads = chart('threads-chart', 'Server OS threads (peak) vs clients', 'threads', '', xs,
    seriesOf((r) => r.server.peak.threads, (r) => `${r.label}, ${r.clients} clients: ${r.server.peak.threads} threads, ${r.server.loaded.sockets} sockets`), reference);
  const p99 = chart('p99-chart', 'p99 request latency vs clients', 'p99 latency (ms)', 'ms', xs,
    seriesOf((r) => Math.max(r.client.latencyMs.p99, 0.001), (r) => `${r.label}, ${r.clients} clients: p99 ${p99Text(r)}${r.frozen ? ` (froze: ${r.client.completed}/${r.client.requests} answered)` : ''}`, (r) => r.frozen));
  const head = COLUMNS.map((c) => `<th>${esc(c.head)}</th>`).join('');
  const rows = result.runs.map((r) => `<tr${r.frozen ? ' class="frozen"' : ''}>${cells(r).map((cell, i) => `<td${COLUMNS[i].left ? ' class="l"' : ''}${r.skipped && i === 2 ? ` title="${esc(r.skipped)}"` : ''}>${esc(cell)}</td>`).join('')}</tr>`).join('\n');
  const cfg = result.config;
  const json = JSON.stringify(result).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bsd-sockets lab threads: does a server need a thread per connection?</title>
<style>
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1300px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.meta { color: #666; margin-top: 0; }
.reading { font-size: 1.08em; background: #f5f7fa; border-left: 4px solid #4a7bd0; padding: 0.8em 1em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
.chart { max-width: 100%; height: auto; background: #fff; border: 1px solid #ddd; }
.chart .title { font-weight: 600; font-size: 15px; }
.chart .tick, .chart .legend { font-size: 12px; fill: #444; }
.chart .axis { font-size: 12px; fill: #222; }
.chart .grid { stroke: #eee; }
.chart .frame { fill: none; stroke: #999; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.7em; text-align: right; border-bottom: 1px solid #eee; }
td.l, th:nth-child(2) { text-align: left; }
tr.frozen td { background: #fdecea; }
dt { font-weight: 600; }
</style>
</head>
<body>
<h1>Does a server need a thread per connection?</h1>
<p class="meta">bsd-sockets lab threads · ${cfg.requests} round trips of ${cfg.requestBytes} bytes per client${cfg.idle ? ` · ${cfg.idle} idle clients` : ''} · deadline ${cfg.deadlineMs} ms per run · ${esc(result.machine.platform)} ${esc(result.machine.kernel)}, ${result.machine.cpus} CPUs, Node ${esc(result.machine.node)}</p>
<p class="reading" id="reading">${esc(result.reading)}</p>
<div class="charts">
${threads}
${p99}
</div>
<table id="results">
<thead><tr>${head}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
<ul>${LEGEND.map((l) => `<li>${esc(l)}</li>`).join('')}</ul>
<h2>The servers</h2>
<dl>${MODES.filter((m) => modes.includes(m)).map((m) => `<dt>${esc(MODE_LABELS[m])}</dt><dd>${esc(MODE_HELP[m])}</dd>`).join('')}</dl>
<p>Each server ran in its own child process and the clients in another (non-blocking sockets on <code>watch()</code>, one thread), over 127.0.0.1. Open circles on the latency chart mark runs that froze: their p99 is the time unanswered requests had waited at the deadline.</p>
<script type="application/json" id="data">${json}</script>
</body>
</html>
`;
}
