// A confirmation dialog (the native modal <dialog>: focus is trapped and Escape cancels).
import { ChangeDetectionStrategy, Component, ElementRef, input, signal, viewChild } from '@angular/core';

@Component({
  selector: 'astro-confirm',
  changeDetection: ChangeDetectionStrategy.OnPush,
  template: `
    <dialog #dialog aria-labelledby="confirm-title" (close)="closed()">
      <h2 id="confirm-title">{{ title() }}</h2>
      <p>{{ question() }}</p>
      <div class="pager">
        <button type="button" (click)="answer(true)">{{ yes() }}</button>
        <button type="button" class="secondary" (click)="answer(false)" autofocus>Keep it</button>
      </div>
    </dialog>
  `,
})
export class ConfirmDialog {
  readonly title = input('Are you sure?');
  readonly yes = input('Yes');
  protected readonly question = signal('');
  private readonly dialog = viewChild.required<ElementRef<HTMLDialogElement>>('dialog');
  private pending: ((yes: boolean) => void) | null = null;

  /** Shows `question`; resolves true only when the user chose `yes`. */
  ask(question: string): Promise<boolean> {
    this.question.set(question);
    this.dialog().nativeElement.showModal();
    return new Promise((resolve) => (this.pending = resolve));
  }

  protected answer(yes: boolean): void {
    this.pending?.(yes);
    this.pending = null;
    this.dialog().nativeElement.close();
  }

  protected closed(): void {
    this.pending?.(false);
    this.pending = null;
  }
}
