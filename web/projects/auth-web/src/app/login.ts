import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { FormBuilder, ReactiveFormsModule, Validators } from '@angular/forms';
import { RouterLink } from '@angular/router';
import { Action, Api, FieldErrors, Shell } from '@astro/shared';
import { signIn } from './sign-in';

@Component({
  selector: 'app-login',
  imports: [ReactiveFormsModule, RouterLink, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <astro-shell heading="Sign in">
      <form [formGroup]="form" (ngSubmit)="submit()" novalidate aria-label="Sign in">
        <p>
          <label>E-mail
            <input type="email" formControlName="email" autocomplete="username"
                   [attr.aria-invalid]="!!errors.of('email', 'email')" aria-describedby="email-error" />
          </label>
          <span id="email-error" class="field-error">{{ errors.of('email', 'email') }}</span>
        </p>
        <p>
          <label>Password
            <input type="password" formControlName="password" autocomplete="current-password"
                   [attr.aria-invalid]="!!errors.of('password', 'password')" aria-describedby="password-error" />
          </label>
          <span id="password-error" class="field-error">{{ errors.of('password', 'password') }}</span>
        </p>
        @if (action.failure(); as failure) {
          <p class="error" role="alert">{{ failure.message }}</p>
        }
        <button type="submit" [disabled]="action.busy()">Sign in</button>
      </form>
      <p>New here? <a routerLink="/register" queryParamsHandling="preserve">Register as a traveler or an agency</a>.</p>
    </astro-shell>
  `,
})
export class LoginPage {
  private readonly api = inject(Api);
  protected readonly form = inject(FormBuilder).nonNullable.group({
    email: ['', [Validators.required, Validators.email]],
    password: ['', Validators.required],
  });
  protected readonly errors = new FieldErrors(this.form);
  protected readonly action = new Action(this.errors);

  protected async submit(): Promise<void> {
    if (this.action.busy() || !this.errors.submit()) {
      return;
    }
    const { email, password } = this.form.getRawValue();
    await this.action.run(() => signIn(this.api, email.trim(), password));
  }
}
