// IT: request rate, error ratio and p99 latency per service over the last hour, as line charts
// drawn from ListSystemMetrics (each window's figures summed over the service's RPCs for the
// rate, the highest for the ratio and the latency).
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Action, Api, Shell } from '@astro/shared';
import type { SystemMetric } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

const CHARTS = [
  { name: 'grpc.requests_per_second', label: 'Requests per second', combine: 'sum' },
  { name: 'grpc.error_ratio', label: 'Error ratio', combine: 'max' },
  { name: 'grpc.latency_p99_ms', label: 'p99 latency (ms)', combine: 'max' },
] as const;
const SIZE = { width: 300, height: 100 };

interface Series {
  service: string;
  chart: string;
  latest: string;
  points: string;
}

@Component({
  selector: 'app-metrics',
  imports: [Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Metrics">
      <app-system-nav />
      <p class="pager">
        <span class="muted">The last hour.</span>
        <button type="button" class="secondary" (click)="load()" [disabled]="action.busy()">Refresh</button>
      </p>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @for (chart of charts; track chart.name) {
        <h2>{{ chart.label }}</h2>
        <div class="cards">
          @for (line of seriesOf(chart.name); track line.service) {
            <figure data-testid="metric-chart">
              <svg [attr.viewBox]="'0 0 ' + size.width + ' ' + size.height" role="img" [attr.aria-label]="chart.label + ' of ' + line.service + ', latest ' + line.latest">
                <polyline [attr.points]="line.points" fill="none" stroke="#1747b8" stroke-width="2" />
              </svg>
              <figcaption>{{ line.service }}: {{ line.latest }}</figcaption>
            </figure>
          } @empty {
            <p class="muted">No figures recorded yet.</p>
          }
        </div>
      }
    </astro-shell>
  `,
})
export class Metrics {
  private readonly api = inject(Api);
  protected readonly charts = CHARTS;
  protected readonly size = SIZE;
  protected readonly action = new Action();
  private readonly metrics = signal<SystemMetric[]>([]);
  private readonly series = computed<Series[]>(() => {
    const lines: Series[] = [];
    for (const chart of CHARTS) {
      const byService = new Map<string, Map<number, number>>();
      for (const metric of this.metrics().filter((candidate) => candidate.name === chart.name)) {
        const at = metric.windowStart ? timestampDate(metric.windowStart).getTime() : 0;
        const windows = byService.get(metric.service) ?? new Map<number, number>();
        const before = windows.get(at);
        windows.set(at, before === undefined ? metric.value : chart.combine === 'sum' ? before + metric.value : Math.max(before, metric.value));
        byService.set(metric.service, windows);
      }
      for (const [service, windows] of byService) {
        const points = [...windows.entries()].sort(([a], [b]) => a - b);
        const highest = Math.max(...points.map(([, value]) => value), 1e-9);
        const first = points[0]?.[0] ?? 0;
        const span = Math.max(1, (points[points.length - 1]?.[0] ?? 0) - first);
        lines.push({
          service,
          chart: chart.name,
          latest: (points[points.length - 1]?.[1] ?? 0).toFixed(chart.name === 'grpc.error_ratio' ? 3 : 1),
          points: points
            .map(([at, value]) => `${(((at - first) / span) * SIZE.width).toFixed(1)},${(SIZE.height - (value / highest) * (SIZE.height - 4)).toFixed(1)}`)
            .join(' '),
        });
      }
    }
    return lines;
  });

  constructor() {
    void this.load();
  }

  protected seriesOf(chart: string): Series[] {
    return this.series().filter((line) => line.chart === chart);
  }

  protected async load(): Promise<void> {
    const since = timestampFromDate(new Date(Date.now() - 3_600_000));
    const metrics = await this.action.run(async () => {
      const all: SystemMetric[] = [];
      for (const chart of CHARTS) {
        let pageToken = '';
        do {
          const answer = await this.api.system.listSystemMetrics({ name: chart.name, startTime: since, pageSize: 1000, pageToken });
          all.push(...answer.metrics);
          pageToken = answer.nextPageToken;
        } while (pageToken && all.length < 20_000);
      }
      return all;
    });
    if (metrics) {
      this.metrics.set(metrics);
    }
  }
}
