// The state every form and button that calls a service keeps: busy while the call runs (a
// second click is ignored), and what went wrong, with field errors handed to the form.
import { signal } from '@angular/core';
import { describeError, type ShownError } from './errors';
import type { FieldErrors } from './forms';

export class Action {
  readonly busy = signal(false);
  readonly failure = signal<ShownError | null>(null);

  constructor(private readonly errors?: FieldErrors) {}

  /** Runs `call` unless one runs already; its value, or undefined when it failed or was ignored. */
  async run<T>(call: () => Promise<T>): Promise<T | undefined> {
    if (this.busy()) {
      return undefined;
    }
    this.busy.set(true);
    this.failure.set(null);
    try {
      return await call();
    } catch (error) {
      const shown = describeError(error);
      this.errors?.failed(shown);
      this.failure.set(shown);
      return undefined;
    } finally {
      this.busy.set(false);
    }
  }
}

/**
 * Paging by page tokens, backwards too: the tokens of the pages before this one are kept, as
 * a service's page token only leads forwards.
 */
export class TokenPages {
  readonly earlier = signal<string[]>([]);
  readonly nextToken = signal('');
  private current = '';

  /** `load(token)` shows the page of `token` and returns the token of the page after it. */
  constructor(private readonly load: (pageToken: string) => Promise<string | undefined>) {}

  /** Page 1, e.g. after the filters changed. */
  first(): Promise<void> {
    this.earlier.set([]);
    return this.show('');
  }

  next(): Promise<void> {
    this.earlier.update((tokens) => [...tokens, this.current]);
    return this.show(this.nextToken());
  }

  previous(): Promise<void> {
    const tokens = [...this.earlier()];
    const token = tokens.pop() ?? '';
    this.earlier.set(tokens);
    return this.show(token);
  }

  /** 1 on the first page. */
  number(): number {
    return this.earlier().length + 1;
  }

  private async show(pageToken: string): Promise<void> {
    const next = await this.load(pageToken);
    if (next !== undefined) {
      this.current = pageToken;
      this.nextToken.set(next);
    }
  }
}
