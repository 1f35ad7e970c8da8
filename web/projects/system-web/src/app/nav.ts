// SystemWeb's sections: each employee role sees its own.
import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { RouterLink, RouterLinkActive } from '@angular/router';
import { Api } from '@astro/shared';
import { Role } from '@astro/shared/gen/astrobookings/common/v1/common_pb';

export const SECTIONS: Record<number, { path: string; label: string }[]> = {
  [Role.ADMIN]: [
    { path: '/employees', label: 'Employees' },
    { path: '/users', label: 'Users' },
  ],
  [Role.IT]: [
    { path: '/notifications', label: 'Notification queue' },
    { path: '/sync-jobs', label: 'Sync jobs' },
    { path: '/status', label: 'Service status' },
    { path: '/logs', label: 'Activity logs' },
    { path: '/metrics', label: 'Metrics' },
  ],
  [Role.FINANCE]: [
    { path: '/invoices', label: 'Invoices' },
    { path: '/reports', label: 'Revenue report' },
    { path: '/annual-report', label: 'Annual report' },
  ],
};

@Component({
  selector: 'app-system-nav',
  imports: [RouterLink, RouterLinkActive],
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <nav aria-label="Operations" class="pager">
      @for (section of sections(); track section.path) {
        <a [routerLink]="section.path" routerLinkActive="active" ariaCurrentWhenActive="page">{{ section.label }}</a>
      }
    </nav>
  `,
})
export class SystemNav {
  private readonly api = inject(Api);
  protected readonly sections = computed(() => SECTIONS[this.api.signedIn()?.user.role ?? 0] ?? []);
}
