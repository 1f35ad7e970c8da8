// Previous / page number / Next under a paged list, driven by its TokenPages.
import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import type { TokenPages } from './actions';

@Component({
  selector: 'astro-pager',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <nav class="pager" aria-label="Pages">
      <button type="button" class="secondary" (click)="pages().previous()" [disabled]="pages().earlier().length === 0 || busy()">Previous</button>
      <span>Page {{ pages().number() }}{{ count() ? ' of ' + count() : '' }}</span>
      <button type="button" class="secondary" (click)="pages().next()" [disabled]="!pages().nextToken() || busy()">Next</button>
    </nav>
  `,
})
export class Pager {
  readonly pages = input.required<TokenPages>();
  /** How many pages there are, when the service says (a total size). */
  readonly count = input(0);
  readonly busy = input(false);
}
