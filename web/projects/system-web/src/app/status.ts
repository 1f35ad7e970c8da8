// IT: every service and its dependencies, and the notification service, refreshed live.
import { ChangeDetectionStrategy, Component, inject, signal, type OnDestroy } from '@angular/core';
import { Action, Api, dateTime, enumLabel, Shell } from '@astro/shared';
import { ServingState, type GetSystemStatusResponse } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

/** How often the page asks again. */
const REFRESH_MS = 5_000;

@Component({
  selector: 'app-status',
  imports: [Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Service status">
      <app-system-nav />
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @if (status(); as status) {
        <p aria-live="polite">
          Overall: <strong data-testid="overall-state">{{ stateLabel(status.overallState) }}</strong>,
          checked {{ dateTime(status.checkedAt) }} (every {{ refreshSeconds }} s).
        </p>
        <table>
          <caption class="muted">Services and what they depend on</caption>
          <thead><tr><th scope="col">Service</th><th scope="col">State</th><th scope="col">Latency</th><th scope="col">Version</th><th scope="col">Dependencies</th></tr></thead>
          <tbody>
            @for (service of status.services; track service.name) {
              <tr data-testid="service-row">
                <td>{{ service.name }}</td>
                <td>{{ stateLabel(service.state) }}{{ service.detail ? ': ' + service.detail : '' }}</td>
                <td>{{ service.latencyMs.toFixed(1) }} ms</td>
                <td>{{ service.version }}</td>
                <td>
                  @for (dependency of service.dependencies; track dependency.name) {
                    <div>{{ dependency.name }}: {{ stateLabel(dependency.state) }}{{ dependency.detail ? ' (' + dependency.detail + ')' : '' }}</div>
                  }
                </td>
              </tr>
            }
          </tbody>
        </table>
        @if (status.notificationService; as notify) {
          <h2>Notifications</h2>
          <dl class="facts">
            <dt>Queue</dt><dd>{{ notify.queueDepth }} waiting ({{ notify.highPriorityQueueDepth }} high priority), oldest {{ notify.oldestPendingAgeSeconds }} s</dd>
            <dt>Last hour</dt><dd>{{ notify.sentLastHour }} sent, {{ notify.failedLastHour }} failed</dd>
            <dt>E-mail server</dt><dd>{{ notify.emailServerReachable ? 'Reachable' : 'Not reachable' }}</dd>
            <dt>Workers</dt><dd>{{ notify.workersAlive }} (+{{ notify.priorityWorkersAlive }} for high priority)</dd>
          </dl>
        }
      }
    </astro-shell>
  `,
})
export class ServiceStatus implements OnDestroy {
  private readonly api = inject(Api);
  protected readonly status = signal<GetSystemStatusResponse | null>(null);
  protected readonly action = new Action();
  protected readonly refreshSeconds = REFRESH_MS / 1000;
  protected readonly dateTime = dateTime;
  private readonly timer = setInterval(() => void this.load(), REFRESH_MS);

  constructor() {
    void this.load();
  }

  ngOnDestroy(): void {
    clearInterval(this.timer);
  }

  protected stateLabel(state: number): string {
    return enumLabel(ServingState, state);
  }

  private async load(): Promise<void> {
    const status = await this.action.run(() => this.api.system.getSystemStatus({}));
    if (status) {
      this.status.set(status);
    }
  }
}
