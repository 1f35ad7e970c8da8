// The signed-in session of every web app: the tokens, who holds them, and the interceptor that
// sends them. Plain TypeScript (no Angular) so its rules are unit-tested as they run.
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';

export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export interface SessionUser {
  id: string;
  email: string;
  name: string;
  /** The `Role` enum's number (1 TRAVELER, 2 AGENCY, ...). */
  role: number;
}

export interface SignedIn {
  tokens: Tokens;
  user: SessionUser;
}

/** Where the session is kept between page loads (localStorage in a browser). */
export interface SessionStore {
  load(): SignedIn | null;
  save(session: SignedIn): void;
  clear(): void;
}

/** Exchanges a refresh token for new tokens; must not go through `Session.interceptor`. */
export type Refresh = (refreshToken: string) => Promise<Tokens>;

export class Session {
  private current: SignedIn | null;
  private refreshing: Promise<Tokens> | null = null;
  private readonly listeners = new Set<(session: SignedIn | null) => void>();

  constructor(
    private readonly store: SessionStore,
    private readonly refresh: Refresh,
  ) {
    this.current = store.load();
  }

  get signedIn(): SignedIn | null {
    return this.current;
  }

  onChange(listener: (session: SignedIn | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  signIn(session: SignedIn): void {
    this.set(session);
  }

  clear(): void {
    this.set(null);
  }

  /** Reads the store again: another tab or app on this origin signed in or out. */
  reload(): void {
    this.current = this.store.load();
    for (const listener of this.listeners) {
      listener(this.current);
    }
  }

  /**
   * Adds the bearer token. On UNAUTHENTICATED it refreshes the tokens once (one refresh in
   * flight for every caller) and retries the call once; if the refresh fails, the session is
   * cleared and the original error stands.
   */
  readonly interceptor: Interceptor = (next) => async (request) => {
    const sent = this.current?.tokens;
    if (sent) {
      request.header.set('authorization', `Bearer ${sent.accessToken}`);
    }
    try {
      return await next(request);
    } catch (error) {
      // A stream's request body cannot be sent twice; only unary calls are retried.
      if (!sent || request.stream || ConnectError.from(error).code !== Code.Unauthenticated) {
        throw error;
      }
      let fresh: Tokens;
      try {
        fresh = await this.freshTokens(sent);
      } catch {
        this.clear();
        throw error;
      }
      request.header.set('authorization', `Bearer ${fresh.accessToken}`);
      return await next(request);
    }
  };

  /**
   * Tokens newer than `stale`: the current ones if another call already refreshed, the
   * refresh in flight if there is one, else a new refresh. A refresh token is spent on use
   * (presenting it twice revokes the whole login), so it must never be sent twice.
   */
  private freshTokens(stale: Tokens): Promise<Tokens> {
    const now = this.current;
    if (!now) {
      return Promise.reject(new Error('signed out'));
    }
    if (now.tokens.accessToken !== stale.accessToken) {
      return Promise.resolve(now.tokens);
    }
    if (!this.refreshing) {
      const user = now.user;
      this.refreshing = this.refresh(now.tokens.refreshToken)
        .then(({ accessToken, refreshToken }) => {
          // Only the two strings are kept: the answer's message also holds bigint timestamps,
          // which JSON (the store) cannot hold.
          const tokens = { accessToken, refreshToken };
          this.set({ tokens, user });
          return tokens;
        })
        .finally(() => {
          this.refreshing = null;
        });
    }
    return this.refreshing;
  }

  private set(session: SignedIn | null): void {
    this.current = session;
    if (session) {
      this.store.save(session);
    } else {
      this.store.clear();
    }
    for (const listener of this.listeners) {
      listener(session);
    }
  }
}

const STORAGE_KEY = 'astro.session';

/** The session in localStorage: shared by every app on the gateway's origin. */
export function browserStore(storage: Storage = localStorage): SessionStore {
  return {
    load() {
      try {
        const text = storage.getItem(STORAGE_KEY);
        return text ? (JSON.parse(text) as SignedIn) : null;
      } catch {
        return null;
      }
    },
    save(session) {
      storage.setItem(STORAGE_KEY, JSON.stringify(session));
    },
    clear() {
      storage.removeItem(STORAGE_KEY);
    },
  };
}
