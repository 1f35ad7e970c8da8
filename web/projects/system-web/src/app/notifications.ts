// IT: the notification queue: counts per status and failure reasons, the notifications with
// filters and sorting, and retry, cancel and mark-sent (each confirmed; cancel and mark-sent
// record a reason).
import { Code } from '@connectrpc/connect';
import { ChangeDetectionStrategy, Component, inject, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { Action, Api, ConfirmDialog, dateTime, describeError, enumLabel, Pager, Shell, TokenPages } from '@astro/shared';
import { SortOrder } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import {
  NotificationEventType,
  NotificationSortField,
  NotificationStatus,
  type GetQueueStatusResponse,
  type Notification,
} from '@astro/shared/gen/astrobookings/notify/v1/notify_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-notifications',
  imports: [ConfirmDialog, Pager, ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Notification queue">
      <app-system-nav />
      @if (queue(); as queue) {
        <section aria-labelledby="counts-heading">
          <h2 id="counts-heading">Now</h2>
          <ul class="pager" data-testid="status-counts">
            @for (count of queue.byStatus; track count.status) {
              <li>{{ statusLabel(count.status) }}: <strong>{{ count.count }}</strong></li>
            }
            <li>Oldest pending: {{ queue.oldestPendingAgeSeconds }} s</li>
          </ul>
          @if (queue.failureReasons.length) {
            <table>
              <caption class="muted">Why sending failed</caption>
              <thead><tr><th scope="col">Reason</th><th scope="col">Notifications</th><th scope="col">Last seen</th></tr></thead>
              <tbody>
                @for (reason of queue.failureReasons; track reason.reason) {
                  <tr><td>{{ reason.reason }}</td><td>{{ reason.count }}</td><td>{{ dateTime(reason.lastSeenAt) }}</td></tr>
                }
              </tbody>
            </table>
          }
        </section>
      }

      <form class="filters" [formGroup]="filters" (ngSubmit)="refresh()" aria-label="Filter notifications">
        <label>Recipient (e-mail or name) <input formControlName="recipient" /></label>
        <label>Status
          <select formControlName="status">
            <option value="0">Any status</option>
            @for (status of statuses; track status) { <option [value]="status">{{ statusLabel(status) }}</option> }
          </select>
        </label>
        <label>Event
          <select formControlName="eventType">
            <option value="0">Any event</option>
            @for (type of eventTypes; track type) { <option [value]="type">{{ eventLabel(type) }}</option> }
          </select>
        </label>
        <label>Sort by
          <select formControlName="sortBy">
            <option [value]="sortFields.CREATED_AT">Created</option>
            <option [value]="sortFields.UPDATED_AT">Updated</option>
            <option [value]="sortFields.NEXT_ATTEMPT_AT">Next attempt</option>
            <option [value]="sortFields.ATTEMPTS">Attempts</option>
          </select>
        </label>
        <label>Order
          <select formControlName="order">
            <option [value]="descending">Newest first</option>
            <option [value]="ascending">Oldest first</option>
          </select>
        </label>
        <button type="submit">Show</button>
      </form>
      <p>
        <label>Reason for cancelling or marking sent (recorded) <input [value]="reason()" (input)="reason.set($any($event.target).value)" /></label>
      </p>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      <p class="muted" aria-live="polite">{{ total() }} notifications</p>
      <table>
        <caption class="muted">Notifications</caption>
        <thead>
          <tr><th scope="col">Created</th><th scope="col">Recipient</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Actions</th></tr>
        </thead>
        <tbody>
          @for (notification of notifications(); track notification.id) {
            <tr data-testid="notification-row">
              <td>{{ dateTime(notification.createdAt) }}</td>
              <td>{{ notification.recipient?.email }}</td>
              <td>{{ eventLabel(notification.eventType) }}</td>
              <td data-testid="notification-status">{{ statusLabel(notification.status) }}</td>
              <td>{{ notification.attempts }} of {{ notification.maxAttempts }}</td>
              <td>{{ notification.lastError }}</td>
              <td class="pager">
                @if (notification.status === failed || notification.status === cancelled) {
                  <button type="button" class="secondary" (click)="retry(notification)" [disabled]="action.busy()">Retry</button>
                }
                @if (notification.status === pending || notification.status === failed) {
                  <button type="button" class="secondary" (click)="cancel(notification)" [disabled]="action.busy()">Cancel</button>
                  <button type="button" class="secondary" (click)="markSent(notification)" [disabled]="action.busy()">Mark sent</button>
                }
              </td>
            </tr>
          } @empty {
            <tr><td colspan="7" class="muted">No notification matches.</td></tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
      <astro-confirm title="Change this notification?" yes="Yes" />
    </astro-shell>
  `,
})
export class Notifications {
  private readonly api = inject(Api);
  protected readonly statuses = [NotificationStatus.PENDING, NotificationStatus.SENT, NotificationStatus.FAILED, NotificationStatus.CANCELLED];
  protected readonly eventTypes = Object.values(NotificationEventType).filter(
    (value): value is number => typeof value === 'number' && value !== NotificationEventType.UNSPECIFIED,
  );
  protected readonly sortFields = NotificationSortField;
  protected readonly ascending = SortOrder.ASCENDING;
  protected readonly descending = SortOrder.DESCENDING;
  protected readonly pending = NotificationStatus.PENDING;
  protected readonly failed = NotificationStatus.FAILED;
  protected readonly cancelled = NotificationStatus.CANCELLED;
  protected readonly filters = inject(FormBuilder).nonNullable.group({
    recipient: '',
    status: '0',
    eventType: '0',
    sortBy: String(NotificationSortField.CREATED_AT),
    order: String(SortOrder.DESCENDING),
  });
  protected readonly queue = signal<GetQueueStatusResponse | null>(null);
  protected readonly notifications = signal<Notification[]>([]);
  protected readonly total = signal(0n);
  protected readonly reason = signal('');
  protected readonly action = new Action();
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  private readonly confirm = viewChild.required(ConfirmDialog);

  constructor() {
    void this.refresh();
  }

  protected statusLabel(status: number): string {
    return enumLabel(NotificationStatus, status);
  }

  protected eventLabel(type: number): string {
    return enumLabel(NotificationEventType, type);
  }

  protected async refresh(): Promise<void> {
    await Promise.all([this.pages.first(), this.loadQueue()]);
  }

  protected async retry(notification: Notification): Promise<void> {
    if (await this.confirm().ask(`Send the e-mail to ${notification.recipient?.email} again now?`)) {
      await this.change(() => this.api.notify.retryNotification({ id: notification.id }));
    }
  }

  protected async cancel(notification: Notification): Promise<void> {
    if (this.needsReason() && (await this.confirm().ask(`Cancel the e-mail to ${notification.recipient?.email}? It will not be sent.`))) {
      await this.change(() => this.api.notify.cancelNotification({ id: notification.id, reason: this.reason().trim() }));
    }
  }

  protected async markSent(notification: Notification): Promise<void> {
    if (this.needsReason() && (await this.confirm().ask(`Record the e-mail to ${notification.recipient?.email} as sent (delivered another way)?`))) {
      await this.change(() => this.api.notify.markNotificationSent({ id: notification.id, reason: this.reason().trim() }));
    }
  }

  private needsReason(): boolean {
    if (this.reason().trim()) {
      return true;
    }
    this.action.failure.set({ code: Code.InvalidArgument, message: 'Write the reason first: it is recorded with the change.', fields: {} });
    return false;
  }

  private async change(call: () => Promise<unknown>): Promise<void> {
    await this.action.run(async () => {
      await call();
      await this.refresh();
    });
  }

  private async loadQueue(): Promise<void> {
    try {
      this.queue.set(await this.api.notify.getQueueStatus({}));
    } catch (error) {
      this.action.failure.set(describeError(error));
    }
  }

  private async load(pageToken: string): Promise<string | undefined> {
    const form = this.filters.getRawValue();
    try {
      const answer = await this.api.notify.listNotifications({
        recipient: form.recipient.trim(),
        statuses: form.status === '0' ? [] : [Number(form.status)],
        eventTypes: form.eventType === '0' ? [] : [Number(form.eventType)],
        sortBy: Number(form.sortBy),
        order: Number(form.order),
        pageSize: 25,
        pageToken,
      });
      this.notifications.set(answer.notifications);
      this.total.set(answer.totalSize);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
