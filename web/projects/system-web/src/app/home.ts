// The start page: straight to the first section of the employee's role.
import { ChangeDetectionStrategy, Component, inject } from '@angular/core';
import { Router } from '@angular/router';
import { Api } from '@astro/shared';
import { SECTIONS } from './nav';

@Component({
  selector: 'app-home',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: '',
})
export class Home {
  constructor() {
    const role = inject(Api).signedIn()?.user.role ?? 0;
    const first = SECTIONS[role]?.[0]?.path ?? '/not-allowed';
    void inject(Router).navigateByUrl(first, { replaceUrl: true });
  }
}
