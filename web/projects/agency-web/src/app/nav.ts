import { ChangeDetectionStrategy, Component } from '@angular/core';
import { RouterLink, RouterLinkActive } from '@angular/router';

/** The agency portal's own sections. */
@Component({
  selector: 'app-agency-nav',
  imports: [RouterLink, RouterLinkActive],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <nav aria-label="Agency" class="pager">
      <a routerLink="/" routerLinkActive="active" [routerLinkActiveOptions]="{ exact: true }" ariaCurrentWhenActive="page">Launches</a>
      <a routerLink="/launches/new" routerLinkActive="active" ariaCurrentWhenActive="page">Schedule a launch</a>
      <a routerLink="/rockets" routerLinkActive="active" ariaCurrentWhenActive="page">Rockets</a>
      <a routerLink="/invoices" routerLinkActive="active" ariaCurrentWhenActive="page">Invoices</a>
      <a routerLink="/profile" routerLinkActive="active" ariaCurrentWhenActive="page">Profile</a>
    </nav>
  `,
})
export class AgencyNav {}
