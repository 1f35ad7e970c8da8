// IT: the activity logs of every service: filters, full-text search, paging, and an export
// whose chunks (ExportLogs, a server stream) are gathered as they arrive, then saved.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Action, Api, dateTime, describeError, downloadBytes, enumLabel, Pager, Shell, TokenPages } from '@astro/shared';
import { SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import { LogLevel, type LogEntry } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

const SERVICES = ['system', 'agency', 'booking', 'finance', 'notify', 'gateway'];

@Component({
  selector: 'app-logs',
  imports: [Pager, ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Activity logs">
      <app-system-nav />
      <form class="filters" [formGroup]="filters" (ngSubmit)="pages.first()" aria-label="Filter logs">
        <label>Search <input formControlName="query" placeholder="words in the message" /></label>
        <label>Service
          <select formControlName="service">
            <option value="">Every service</option>
            @for (service of services; track service) { <option [value]="service">{{ service }}</option> }
          </select>
        </label>
        <label>At least
          <select formControlName="level">
            @for (level of levels; track level) { <option [value]="level">{{ levelLabel(level) }}</option> }
          </select>
        </label>
        <label>Event type <input formControlName="eventType" /></label>
        <label>User id <input formControlName="userId" /></label>
        <label>Trace id <input formControlName="traceId" /></label>
        <label>From <input type="datetime-local" formControlName="from" /></label>
        <label>Until <input type="datetime-local" formControlName="until" /></label>
        <button type="submit">Search</button>
      </form>
      <p class="pager">
        <button type="button" class="secondary" (click)="export('csv')" [disabled]="exporting()">Export CSV</button>
        <button type="button" class="secondary" (click)="export('ndjson')" [disabled]="exporting()">Export NDJSON</button>
        @if (exported(); as exported) { <span aria-live="polite">{{ exported }}</span> }
      </p>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      <table>
        <caption class="muted">Log entries, newest first (times in UTC)</caption>
        <thead><tr><th scope="col">Time</th><th scope="col">Service</th><th scope="col">Level</th><th scope="col">Event</th><th scope="col">Message</th><th scope="col">Trace</th></tr></thead>
        <tbody>
          @for (entry of entries(); track entry.id) {
            <tr data-testid="log-row">
              <td>{{ dateTime(entry.time) }}</td><td>{{ entry.service }}</td><td>{{ levelLabel(entry.level) }}</td>
              <td>{{ entry.eventType }}</td><td>{{ entry.message }}</td><td><code>{{ entry.traceId }}</code></td>
            </tr>
          } @empty {
            <tr><td colspan="6" class="muted">No entry matches.</td></tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
    </astro-shell>
  `,
})
export class ActivityLogs {
  private readonly api = inject(Api);
  protected readonly services = SERVICES;
  protected readonly levels = [LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN, LogLevel.ERROR];
  protected readonly filters = inject(FormBuilder).nonNullable.group({
    query: '',
    service: '',
    level: String(LogLevel.INFO),
    eventType: '',
    userId: '',
    traceId: '',
    from: '',
    until: '',
  });
  protected readonly entries = signal<LogEntry[]>([]);
  protected readonly exporting = signal(false);
  protected readonly exported = signal('');
  protected readonly action = new Action();
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;

  constructor() {
    void this.pages.first();
  }

  protected levelLabel(level: number): string {
    return enumLabel(LogLevel, level);
  }

  /** Saves what the filters select; the chunks are counted as they come. */
  protected async export(format: 'csv' | 'ndjson'): Promise<void> {
    this.exporting.set(true);
    this.exported.set('Exporting…');
    const chunks: Uint8Array[] = [];
    let contentType = format === 'csv' ? 'text/csv' : 'application/x-ndjson';
    let filename = `logs.${format}`;
    let entries = 0;
    let truncated = false;
    try {
      for await (const chunk of this.api.system.exportLogs({ ...this.filter(), format }, { timeoutMs: 120_000 })) {
        chunks.push(chunk.data);
        contentType = chunk.contentType || contentType;
        filename = chunk.filename || filename;
        entries = Math.max(entries, chunk.entryCount);
        truncated ||= chunk.truncated;
        this.exported.set(`Exporting… ${chunks.length} parts`);
      }
      const whole = new Uint8Array(chunks.reduce((length, chunk) => length + chunk.length, 0));
      chunks.reduce((offset, chunk) => (whole.set(chunk, offset), offset + chunk.length), 0);
      downloadBytes(whole, contentType, filename);
      this.exported.set(`${filename}: ${entries} entries${truncated ? ' (the first 100,000 only)' : ''}.`);
    } catch (error) {
      this.exported.set('');
      this.action.failure.set(describeError(error));
    } finally {
      this.exporting.set(false);
    }
  }

  private filter() {
    const form = this.filters.getRawValue();
    const at = (local: string) => (local ? timestampFromDate(new Date(`${local}:00Z`)) : undefined);
    return {
      query: form.query.trim(),
      service: form.service,
      minLevel: Number(form.level),
      eventType: form.eventType.trim(),
      userId: form.userId.trim(),
      traceId: form.traceId.trim(),
      startTime: at(form.from),
      endTime: at(form.until),
      order: SortOrder.DESCENDING,
    };
  }

  private async load(pageToken: string): Promise<string | undefined> {
    try {
      const answer = await this.api.system.listLogs({ ...this.filter(), pageSize: 50, pageToken });
      this.entries.set(answer.entries);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
