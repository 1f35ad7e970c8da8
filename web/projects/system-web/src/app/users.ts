// ADMIN: every account, searched and filtered; disable (with the reason recorded) and enable.
import { Code } from '@connectrpc/connect';
import { ChangeDetectionStrategy, Component, inject, signal, viewChild } from '@angular/core';
import { FormBuilder, ReactiveFormsModule } from '@angular/forms';
import { Action, Api, ConfirmDialog, dateTime, describeError, roleLabel, Pager, Shell, TokenPages } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import type { User } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-users',
  imports: [ConfirmDialog, Pager, ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Users">
      <app-system-nav />
      <form class="filters" [formGroup]="filters" (ngSubmit)="pages.first()" aria-label="Search users">
        <label>Name or e-mail <input formControlName="query" /></label>
        <label>Role
          <select formControlName="role">
            <option value="0">Any role</option>
            @for (role of roles; track role) { <option [value]="role">{{ roleLabel(role) }}</option> }
          </select>
        </label>
        <label>State
          <select formControlName="state">
            <option value="">Any</option>
            <option value="active">Active</option>
            <option value="disabled">Disabled</option>
          </select>
        </label>
        <button type="submit">Search</button>
      </form>
      <p>
        <label>Reason for disabling (recorded) <input [value]="reason()" (input)="reason.set($any($event.target).value)" /></label>
      </p>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      <p class="muted" aria-live="polite">{{ total() }} accounts</p>
      <table>
        <caption class="muted">Accounts, newest first</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Last sign-in</th><th scope="col">State</th><th scope="col">Action</th></tr></thead>
        <tbody>
          @for (user of users(); track user.id) {
            <tr data-testid="user-row">
              <td>{{ user.name }}</td><td>{{ user.email }}</td><td>{{ roleLabel(user.role) }}</td>
              <td>{{ dateTime(user.lastLoginAt) }}</td><td>{{ user.disabled ? 'Disabled' : 'Active' }}</td>
              <td>
                @if (user.disabled) {
                  <button type="button" class="secondary" (click)="enable(user)" [disabled]="action.busy()">Enable {{ user.email }}</button>
                } @else {
                  <button type="button" class="secondary" (click)="disable(user)" [disabled]="action.busy()">Disable {{ user.email }}</button>
                }
              </td>
            </tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
      <astro-confirm title="Change this account?" yes="Yes" />
    </astro-shell>
  `,
})
export class Users {
  private readonly api = inject(Api);
  protected readonly roles = [Role.TRAVELER, Role.AGENCY, Role.FINANCE, Role.IT, Role.ADMIN];
  protected readonly filters = inject(FormBuilder).nonNullable.group({ query: '', role: '0', state: '' });
  protected readonly users = signal<User[]>([]);
  protected readonly total = signal(0n);
  protected readonly reason = signal('');
  protected readonly action = new Action();
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  protected readonly roleLabel = roleLabel;
  private readonly confirm = viewChild.required(ConfirmDialog);

  constructor() {
    void this.pages.first();
  }

  protected async disable(user: User): Promise<void> {
    const reason = this.reason().trim();
    if (!reason) {
      this.action.failure.set({ code: Code.InvalidArgument, message: 'Write the reason for disabling first.', fields: {} });
      return;
    }
    if (await this.confirm().ask(`Disable ${user.email}? They are signed out everywhere and cannot sign in.`)) {
      await this.action.run(async () => {
        await this.api.system.disableUser({ id: user.id, reason });
        await this.pages.first();
      });
    }
  }

  protected async enable(user: User): Promise<void> {
    if (await this.confirm().ask(`Enable ${user.email} again?`)) {
      await this.action.run(async () => {
        await this.api.system.enableUser({ id: user.id });
        await this.pages.first();
      });
    }
  }

  private async load(pageToken: string): Promise<string | undefined> {
    const form = this.filters.getRawValue();
    try {
      const answer = await this.api.system.listUsers({
        query: form.query.trim(),
        role: Number(form.role),
        disabled: form.state === '' ? undefined : form.state === 'disabled',
        pageSize: 50,
        pageToken,
      });
      this.users.set(answer.users);
      this.total.set(answer.totalSize);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
