// ADMIN: the employees (FINANCE, IT, ADMIN accounts): create one, list them.
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { Action, Api, dateTime, describeError, FieldErrors, PASSWORD_MAX, PASSWORD_MIN, roleLabel, Pager, Shell, TokenPages } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';
import type { User } from '@astro/shared/gen/astrobookings/system/v1/system_pb';
import { SystemNav } from './nav';

@Component({
  selector: 'app-employees',
  imports: [Pager, ReactiveFormsModule, Shell, SystemNav],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Employees">
      <app-system-nav />
      <h2>Add an employee</h2>
      <form class="grid" [formGroup]="form" (ngSubmit)="create()" novalidate aria-label="Add an employee">
        <p>
          <label>Name <input formControlName="name" autocomplete="off" [attr.aria-invalid]="!!errors.of('name', 'name')" aria-describedby="name-error" /></label>
          <span id="name-error" class="field-error">{{ errors.of('name', 'name') }}</span>
        </p>
        <p>
          <label>E-mail <input type="email" formControlName="email" autocomplete="off" [attr.aria-invalid]="!!errors.of('email', 'email')" aria-describedby="email-error" /></label>
          <span id="email-error" class="field-error">{{ errors.of('email', 'email') }}</span>
        </p>
        <p>
          <label>First password ({{ passwordMin }} characters or more) <input type="password" formControlName="password" autocomplete="new-password" [attr.aria-invalid]="!!errors.of('password', 'password')" aria-describedby="password-error" /></label>
          <span id="password-error" class="field-error">{{ errors.of('password', 'password') }}</span>
        </p>
        <p>
          <label>Role
            <select formControlName="role">
              @for (role of roles; track role) { <option [value]="role">{{ roleLabel(role) }}</option> }
            </select>
          </label>
        </p>
        <p><button type="submit" [disabled]="action.busy()">Add employee</button></p>
      </form>
      @if (action.failure(); as failure) { <p class="error" role="alert">{{ failure.message }}</p> }
      @if (created(); as created) { <p class="ok" role="status">{{ created }} can sign in now.</p> }

      <table>
        <caption class="muted">Employees, by e-mail</caption>
        <thead><tr><th scope="col">Name</th><th scope="col">E-mail</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col">State</th></tr></thead>
        <tbody>
          @for (employee of employees(); track employee.id) {
            <tr data-testid="employee-row">
              <td>{{ employee.name }}</td><td>{{ employee.email }}</td><td>{{ roleLabel(employee.role) }}</td>
              <td>{{ dateTime(employee.createdAt) }}</td><td>{{ employee.disabled ? 'Disabled' : 'Active' }}</td>
            </tr>
          }
        </tbody>
      </table>
      <astro-pager [pages]="pages" />
    </astro-shell>
  `,
})
export class Employees {
  private readonly api = inject(Api);
  protected readonly passwordMin = PASSWORD_MIN;
  protected readonly roles = [Role.IT, Role.FINANCE, Role.ADMIN];
  protected readonly form = inject(FormBuilder).nonNullable.group({
    name: ['', [Validators.required, Validators.maxLength(100)]],
    email: ['', [Validators.required, Validators.email]],
    password: ['', [Validators.required, Validators.minLength(PASSWORD_MIN), Validators.maxLength(PASSWORD_MAX)]],
    role: String(Role.IT),
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);
  protected readonly employees = signal<User[]>([]);
  protected readonly created = signal('');
  protected readonly pages = new TokenPages((token) => this.load(token));
  protected readonly dateTime = dateTime;
  protected readonly roleLabel = roleLabel;

  constructor() {
    void this.pages.first();
  }

  protected async create(): Promise<void> {
    this.created.set('');
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const value = this.form.getRawValue();
    const answer = await this.action.run(() =>
      this.api.system.createEmployee({
        name: value.name.trim(),
        email: value.email.trim(),
        password: value.password,
        role: Number(value.role),
      }),
    );
    if (answer?.user) {
      this.created.set(answer.user.email);
      this.form.reset();
      this.errors.submitted.set(false);
      await this.pages.first();
    }
  }

  private async load(pageToken: string): Promise<string | undefined> {
    try {
      const answer = await this.api.system.listEmployees({ includeDisabled: true, pageSize: 50, pageToken });
      this.employees.set(answer.employees);
      return answer.nextPageToken;
    } catch (error) {
      this.action.failure.set(describeError(error));
      return undefined;
    }
  }
}
