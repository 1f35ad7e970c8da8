// The frame every app shares: the site header (links between the apps are plain links, as
// each app is its own page), the main landmark, and the "not allowed" page.
import { ChangeDetectionStrategy, Component, computed, inject, input } from '@angular/core';
import { Role } from '../gen/astrobookings/common/v1/common_pb';
import { Api } from './api';

/** Where a signed-in user of each role starts. */
export function homeOf(role: number): string {
  switch (role) {
    case Role.TRAVELER:
      return '/traveler/';
    case Role.AGENCY:
      return '/agency/';
    case Role.FINANCE:
    case Role.IT:
    case Role.ADMIN:
      return '/system/';
    default:
      return '/public/';
  }
}

@Component({
  selector: 'astro-shell',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <a class="skip" href="#main">Skip to content</a>
    <header class="site">
      <a class="brand" href="/public/">AstroBookings</a>
      <nav aria-label="Site">
        <a href="/public/">Launches</a>
        @if (user(); as user) {
          <a [href]="home()">{{ homeName() }}</a>
          <a href="/auth/account">{{ user.name }}</a>
          <button type="button" class="link" (click)="signOut()">Sign out</button>
        } @else {
          <a href="/auth/login">Sign in</a>
          <a href="/auth/register">Register</a>
        }
      </nav>
    </header>
    <main id="main" tabindex="-1">
      <h1>{{ heading() }}</h1>
      <ng-content />
    </main>
  `,
})
export class Shell {
  private readonly api = inject(Api);
  readonly heading = input.required<string>();
  protected readonly user = computed(() => this.api.signedIn()?.user ?? null);
  protected readonly home = computed(() => homeOf(this.user()?.role ?? 0));
  protected readonly homeName = computed(() => {
    const role = this.user()?.role;
    return role === Role.TRAVELER ? 'My bookings' : role === Role.AGENCY ? 'My agency' : 'Operations';
  });

  protected async signOut(): Promise<void> {
    await this.api.signOut().catch(() => undefined);
    window.location.assign('/public/');
  }
}

/** Shown instead of a page the signed-in role may not open (never a broken page). */
@Component({
  selector: 'astro-not-allowed',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <section class="notice" role="alert">
      <p>{{ reason() }}</p>
      <p><a [href]="home()">Go to your start page</a> or <a href="/auth/login">sign in with another account</a>.</p>
    </section>
  `,
})
export class NotAllowed {
  private readonly api = inject(Api);
  readonly reason = input('This page is not available to your account.');
  protected readonly home = computed(() => homeOf(this.api.signedIn()?.user.role ?? 0));
}
