// Which apps a role may use: a visitor is sent to sign in (and back), a signed-in user of
// another role sees the "not allowed" page instead of a page whose calls would all fail.
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { Router, type CanActivateFn, type Routes } from '@angular/router';
import { Api } from './api';
import { NotAllowed, Shell } from './shell';

/** The route of the "not allowed" page in every portal app. */
export const NOT_ALLOWED_PATH = 'not-allowed';

/** The route is for `roles` (one role or several). */
export function requireRole(roles: number | number[]): CanActivateFn {
  const allowed = Array.isArray(roles) ? roles : [roles];
  return () => {
    const user = inject(Api).signedIn()?.user;
    if (!user) {
      const here = window.location.pathname + window.location.search;
      window.location.assign(`/auth/login?next=${encodeURIComponent(here)}`);
      return false;
    }
    return allowed.includes(user.role) ? true : inject(Router).parseUrl(`/${NOT_ALLOWED_PATH}`);
  };
}

@Component({
  selector: 'astro-not-allowed-page',
  imports: [NotAllowed, Shell],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `<astro-shell heading="Not allowed"><astro-not-allowed /></astro-shell>`,
})
export class NotAllowedPage {}

/** A portal's routes: its pages for `role` only, and the "not allowed" page for the others. */
export function portalRoutes(role: number | number[], pages: Routes): Routes {
  return [
    { path: NOT_ALLOWED_PATH, component: NotAllowedPage, title: 'Not allowed · AstroBookings' },
    { path: '', canActivate: [requireRole(role)], children: pages },
    { path: '**', redirectTo: '' },
  ];
}
