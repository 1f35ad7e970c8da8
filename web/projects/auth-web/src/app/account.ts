// The signed-in account: who, "my notifications", change password, sign out.
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import {
  Action,
  Api,
  dateTime,
  describeError,
  enumLabel,
  FieldErrors,
  PASSWORD_MAX,
  PASSWORD_MIN,
  sameAs,
  Shell,
  type ShownError,
} from '@astro/shared';
import { NotificationEventType, NotificationStatus, type Notification } from '@astro/shared/gen/astrobookings/notify/v1/notify_pb';

const PAGE_SIZE = 20;

@Component({
  selector: 'app-account',
  imports: [ReactiveFormsModule, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Your account">
      @if (user(); as user) {
        <dl class="facts">
          <dt>Name</dt><dd>{{ user.name }}</dd>
          <dt>E-mail</dt><dd>{{ user.email }}</dd>
        </dl>

        <section aria-labelledby="notifications-heading">
          <h2 id="notifications-heading">My notifications</h2>
          @if (notificationsError(); as error) {
            <p class="error" role="alert">{{ error.message }}</p>
          }
          <table>
            <caption class="muted">E-mails sent to you, newest first</caption>
            <thead><tr><th scope="col">When</th><th scope="col">What</th><th scope="col">Subject</th><th scope="col">Status</th></tr></thead>
            <tbody>
              @for (notification of notifications(); track notification.id) {
                <tr>
                  <td>{{ when(notification) }}</td>
                  <td>{{ eventLabel(notification) }}</td>
                  <td>{{ notification.emailSubject }}</td>
                  <td>{{ statusLabel(notification) }}</td>
                </tr>
              } @empty {
                <tr><td colspan="4" class="muted">No notifications yet.</td></tr>
              }
            </tbody>
          </table>
          @if (nextToken()) {
            <p><button type="button" class="secondary" (click)="loadNotifications()">Show older</button></p>
          }
        </section>

        <section aria-labelledby="password-heading">
          <h2 id="password-heading">Change password</h2>
          <form [formGroup]="passwordForm" (ngSubmit)="changePassword()" novalidate aria-label="Change password">
            <p>
              <label>Current password
                <input type="password" formControlName="currentPassword" autocomplete="current-password"
                       [attr.aria-invalid]="!!errors.of('currentPassword', 'current_password')" aria-describedby="current-error" />
              </label>
              <span id="current-error" class="field-error">{{ errors.of('currentPassword', 'current_password') }}</span>
            </p>
            <p>
              <label>New password ({{ passwordMin }} characters or more)
                <input type="password" formControlName="newPassword" autocomplete="new-password"
                       [attr.aria-invalid]="!!errors.of('newPassword', 'new_password')" aria-describedby="new-error" />
              </label>
              <span id="new-error" class="field-error">{{ errors.of('newPassword', 'new_password') }}</span>
            </p>
            <p>
              <label>New password again
                <input type="password" formControlName="repeat" autocomplete="new-password" aria-describedby="repeat-error" />
              </label>
              <span id="repeat-error" class="field-error">{{ passwordForm.errors?.['mismatch'] && errors.submitted() ? 'The two entries differ.' : '' }}</span>
            </p>
            @if (passwordChange.failure(); as failure) {
              <p class="error" role="alert">{{ failure.message }}</p>
            }
            @if (passwordChanged()) {
              <p class="ok" role="status">Your password was changed.</p>
            }
            <button type="submit" [disabled]="passwordChange.busy()">Change password</button>
          </form>
        </section>

        <p><button type="button" class="secondary" (click)="signOut()">Sign out</button></p>
      } @else {
        <p class="notice" role="status">{{ signedOutMessage() }} <a href="/auth/login">Sign in</a>.</p>
      }
    </astro-shell>
  `,
})
export class AccountPage {
  private readonly api = inject(Api);
  protected readonly passwordMin = PASSWORD_MIN;
  protected readonly user = computed(() => this.api.signedIn()?.user ?? null);
  protected readonly notifications = signal<Notification[]>([]);
  protected readonly notificationsError = signal<ShownError | null>(null);
  protected readonly nextToken = signal('');
  protected readonly signedOutMessage = signal('You are not signed in.');
  protected readonly passwordForm = inject(FormBuilder).nonNullable.group(
    {
      currentPassword: ['', Validators.required],
      newPassword: ['', [Validators.required, Validators.minLength(PASSWORD_MIN), Validators.maxLength(PASSWORD_MAX)]],
      repeat: ['', Validators.required],
    },
    { validators: sameAs('newPassword', 'repeat') },
  );
  protected readonly errors = new FieldErrors(this.passwordForm);
  protected readonly passwordChange = new Action(this.errors);
  protected readonly passwordChanged = signal(false);

  constructor() {
    if (this.user()) {
      void this.loadNotifications();
    }
  }

  protected when(notification: Notification): string {
    return dateTime(notification.createdAt);
  }

  protected eventLabel(notification: Notification): string {
    return enumLabel(NotificationEventType, notification.eventType);
  }

  protected statusLabel(notification: Notification): string {
    return enumLabel(NotificationStatus, notification.status);
  }

  protected async loadNotifications(): Promise<void> {
    try {
      const answer = await this.api.notify.listMyNotifications({ pageSize: PAGE_SIZE, pageToken: this.nextToken() });
      this.notifications.update((shown) => [...shown, ...answer.notifications]);
      this.nextToken.set(answer.nextPageToken);
    } catch (error) {
      this.notificationsError.set(describeError(error));
    }
  }

  protected async changePassword(): Promise<void> {
    this.passwordChanged.set(false);
    if (this.passwordChange.busy() || !this.errors.submit()) {
      return;
    }
    const { currentPassword, newPassword } = this.passwordForm.getRawValue();
    const changed = await this.passwordChange.run(() => this.api.system.changePassword({ currentPassword, newPassword }));
    if (changed) {
      this.passwordChanged.set(true);
      this.passwordForm.reset();
      this.errors.submitted.set(false);
    }
  }

  protected async signOut(): Promise<void> {
    await this.api.signOut().catch(() => undefined);
    this.signedOutMessage.set('You are signed out.');
  }
}
