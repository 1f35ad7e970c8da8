// IT: synchronization jobs: start one, follow it live (WatchSyncJob, a server stream over
// grpc-web) with a progress bar, and the history of jobs with their errors.
import { Code } from '@connectrpc/connect';
import { ChangeDetectionStrategy, Component, inject, signal, type OnDestroy } from '@angular/core';
import { Action, Api, dateTime, describeError, enumLabel, Pager, Shell, TokenPages } from '@astro/shared';
import { SyncDataSet, SyncJobState, type SyncJob } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-sync-jobs',
  imports: [Pager, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Sync jobs">
      <app-system-nav />
      <h2>Start a sync</h2>
      <div class="pager">
        @for (dataSet of dataSets; track dataSet) {
          <button type="button" (click)="start(dataSet)" [disabled]="action.busy()">Sync {{ dataSetLabel(dataSet).toLowerCase() }}</button>
        }
      </div>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @if (watched(); as job) {
        <section aria-labelledby="watch-heading" class="notice">
          <h2 id="watch-heading">{{ dataSetLabel(job.dataSet) }}: {{ stateLabel(job.state) }}</h2>
          <progress max="100" [value]="job.percentDone" aria-label="Sync progress" data-testid="sync-progress"></progress>
          <span data-testid="sync-percent">{{ job.percentDone }}%</span>
          <p>{{ job.itemsProcessed }} of {{ job.itemsTotal }} items, {{ job.itemsChanged }} changed, {{ job.itemsFailed }} failed.</p>
          @if (job.failureMessage) { <p class="error">{{ job.failureMessage }}</p> }
        </section>
      }

      <h2>History</h2>
      <table>
        <caption class="muted">Jobs, newest first</caption>
        <thead><tr><th scope="col">Data set</th><th scope="col">State</th><th scope="col">Started</th><th scope="col">Finished</th><th scope="col">Items</th><th scope="col">Errors</th></tr></thead>
        <tbody>
          @for (job of jobs(); track job.id) {
            <tr data-testid="sync-row">
              <td>{{ dataSetLabel(job.dataSet) }}</td><td>{{ stateLabel(job.state) }}</td>
              <td>{{ dateTime(job.startedAt) }}</td><td>{{ dateTime(job.finishedAt) }}</td>
              <td>{{ job.itemsProcessed }} of {{ job.itemsTotal }}</td>
              <td>
                @for (problem of job.errors; track $index) { <div>{{ problem.message }}</div> }
                {{ job.failureMessage }}
              </td>
            </tr>
          } @empty {
            <tr><td colspan="6" class="muted">No jobs yet.</td></tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
    </astro-shell>
  `,
})
export class SyncJobs implements OnDestroy {
  private readonly api = inject(Api);
  protected readonly dataSets = [SyncDataSet.USER_PROFILES, SyncDataSet.CATALOGUE];
  protected readonly jobs = signal<SyncJob[]>([]);
  protected readonly watched = signal<SyncJob | null>(null);
  protected readonly action = new Action();
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  /** Ends the watch when the page goes. */
  private readonly leaving = new AbortController();

  constructor() {
    void this.pages.first();
  }

  ngOnDestroy(): void {
    this.leaving.abort();
  }

  protected dataSetLabel(dataSet: number): string {
    return enumLabel(SyncDataSet, dataSet);
  }

  protected stateLabel(state: number): string {
    return enumLabel(SyncJobState, state);
  }

  protected async start(dataSet: SyncDataSet): Promise<void> {
    const answer = await this.action.run(() => this.api.system.startSyncJob({ dataSets: [dataSet] }));
    if (!answer) {
      const failure = this.action.failure();
      if (failure && (failure.code === Code.AlreadyExists || failure.code === Code.FailedPrecondition)) {
        // The service names the running job by id; say it in the page's words.
        this.action.failure.set({
          ...failure,
          message: `A ${this.dataSetLabel(dataSet).toLowerCase()} sync is already queued or running: wait for it to finish.`,
        });
      }
      return;
    }
    const running = answer.runningJobs[0];
    if (running) {
      this.action.failure.set({
        code: Code.AlreadyExists,
        message: `A ${this.dataSetLabel(running.dataSet).toLowerCase()} sync is already ${this.stateLabel(running.state).toLowerCase()} (started ${dateTime(running.startedAt)}): wait for it to finish.`,
        fields: {},
      });
      this.watched.set(running);
    }
    const job = answer.startedJobs[0];
    if (job) {
      await this.watch(job);
    }
    await this.pages.first();
  }

  /** Follows `job` until it finishes; a watch that hit its deadline is started again. */
  private async watch(job: SyncJob): Promise<void> {
    this.watched.set(job);
    let current = job;
    while (!this.finished(current) && !this.leaving.signal.aborted) {
      try {
        for await (const update of this.api.system.watchSyncJob({ id: job.id }, { signal: this.leaving.signal, timeoutMs: 60_000 })) {
          if (update.job) {
            current = update.job;
            this.watched.set(current);
          }
        }
      } catch (error) {
        if (this.leaving.signal.aborted) {
          return;
        }
        const shown = describeError(error);
        if (shown.code !== Code.DeadlineExceeded) {
          this.action.failure.set(shown);
          return;
        }
      }
    }
  }

  private finished(job: SyncJob): boolean {
    return job.state === SyncJobState.SUCCEEDED || job.state === SyncJobState.FAILED;
  }

  private async load(pageToken: string): Promise<string | undefined> {
    try {
      const answer = await this.api.system.listSyncJobs({ pageSize: 20, pageToken });
      this.jobs.set(answer.jobs);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
