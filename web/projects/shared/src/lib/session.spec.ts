// The session interceptor against an in-process SystemService (connect's router transport):
// what it sends, when it refreshes, and that a refresh token is never spent twice.
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { describe, expect, it } from 'vitest';
import { GetCurrentUserResponseSchema, SystemService } from '../gen/astrobookings/system/v1/system_pb';
import { browserStore, Session, type SessionStore, type SignedIn, type Tokens } from './session';

const user = { id: 'u1', email: 'ada@example.com', name: 'Ada', role: 1 };
const first: Tokens = { accessToken: 'a1', refreshToken: 'r1' };
const second: Tokens = { accessToken: 'a2', refreshToken: 'r2' };

function memoryStore(initial: SignedIn | null): SessionStore & { saved: SignedIn | null } {
  const store = {
    saved: initial,
    load: () => store.saved,
    save: (session: SignedIn) => {
      store.saved = session;
    },
    clear: () => {
      store.saved = null;
    },
  };
  return store;
}

/** SystemService whose GetCurrentUser accepts only the token `valid()` names at call time. */
function systemClient(session: Session, valid: () => string, seen: string[], failWith = Code.Unauthenticated) {
  const transport = createRouterTransport(
    ({ service }) => {
      service(SystemService, {
        getCurrentUser(_request, context) {
          const header = context.requestHeader.get('authorization') ?? '';
          seen.push(header);
          if (header !== `Bearer ${valid()}`) {
            throw new ConnectError('token rejected', failWith);
          }
          return create(GetCurrentUserResponseSchema, {});
        },
      });
    },
    { transport: { interceptors: [session.interceptor] } },
  );
  return createClient(SystemService, transport);
}

/** A refresh that answers when the test says so, counting calls. */
function controlledRefresh() {
  const calls: string[] = [];
  let release!: (tokens: Tokens) => void;
  let fail!: (error: unknown) => void;
  const answer = new Promise<Tokens>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  return {
    calls,
    release: (tokens: Tokens) => release(tokens),
    fail: (error: unknown) => fail(error),
    refresh: (refreshToken: string) => {
      calls.push(refreshToken);
      return answer;
    },
  };
}

describe('Session interceptor', () => {
  it('sends the bearer token of the signed-in session and nothing for a visitor', async () => {
    const seen: string[] = [];
    const signedIn = new Session(memoryStore({ tokens: first, user }), () => Promise.reject(new Error('unused')));
    await systemClient(signedIn, () => 'a1', seen).getCurrentUser({});
    const visitor = new Session(memoryStore(null), () => Promise.reject(new Error('unused')));
    await expect(systemClient(visitor, () => 'a1', seen).getCurrentUser({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    expect(seen).toEqual(['Bearer a1', '']);
  });

  it('refreshes once on UNAUTHENTICATED, retries once with the new token and keeps it', async () => {
    const seen: string[] = [];
    const store = memoryStore({ tokens: first, user });
    const refresh = controlledRefresh();
    const session = new Session(store, refresh.refresh);
    refresh.release(second);
    await systemClient(session, () => 'a2', seen).getCurrentUser({});
    expect(refresh.calls).toEqual(['r1']);
    expect(seen).toEqual(['Bearer a1', 'Bearer a2']);
    expect(store.saved).toEqual({ tokens: second, user });
  });

  it('has a single refresh in flight for every caller', async () => {
    const seen: string[] = [];
    const refresh = controlledRefresh();
    const session = new Session(memoryStore({ tokens: first, user }), refresh.refresh);
    const client = systemClient(session, () => 'a2', seen);
    const calls = [client.getCurrentUser({}), client.getCurrentUser({}), client.getCurrentUser({})];
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(refresh.calls).toEqual(['r1']);
    refresh.release(second);
    await Promise.all(calls);
    expect(refresh.calls).toEqual(['r1']);
    expect(seen.filter((header) => header === 'Bearer a2')).toHaveLength(3);
  });

  it('uses tokens another call already refreshed instead of spending the refresh token again', async () => {
    const seen: string[] = [];
    let valid = 'a1';
    const refresh = controlledRefresh();
    const session = new Session(memoryStore({ tokens: first, user }), refresh.refresh);
    const client = systemClient(session, () => valid, seen);
    await client.getCurrentUser({});
    // The access token expires; one call refreshes, then a call sent with the old token fails.
    valid = 'a2';
    refresh.release(second);
    await client.getCurrentUser({});
    session.signIn({ tokens: { accessToken: 'a1', refreshToken: 'r1' }, user });
    const stale = client.getCurrentUser({});
    session.signIn({ tokens: second, user });
    await stale;
    expect(refresh.calls).toEqual(['r1']);
  });

  it('retries only once: a second UNAUTHENTICATED is the answer', async () => {
    const seen: string[] = [];
    const refresh = controlledRefresh();
    const session = new Session(memoryStore({ tokens: first, user }), refresh.refresh);
    refresh.release(second);
    await expect(systemClient(session, () => 'never', seen).getCurrentUser({})).rejects.toMatchObject({
      code: Code.Unauthenticated,
    });
    expect(seen).toEqual(['Bearer a1', 'Bearer a2']);
    expect(refresh.calls).toHaveLength(1);
  });

  it('clears the session when the refresh fails, and the original error stands', async () => {
    const store = memoryStore({ tokens: first, user });
    const refresh = controlledRefresh();
    const session = new Session(store, refresh.refresh);
    const changes: (SignedIn | null)[] = [];
    session.onChange((now) => changes.push(now));
    refresh.fail(new ConnectError('refresh token reused', Code.Unauthenticated));
    await expect(systemClient(session, () => 'a2', []).getCurrentUser({})).rejects.toMatchObject({
      rawMessage: 'token rejected',
    });
    expect(store.saved).toBeNull();
    expect(session.signedIn).toBeNull();
    expect(changes).toEqual([null]);
  });

  it('does not refresh on other errors', async () => {
    const refresh = controlledRefresh();
    const session = new Session(memoryStore({ tokens: first, user }), refresh.refresh);
    await expect(
      systemClient(session, () => 'other', [], Code.PermissionDenied).getCurrentUser({}),
    ).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(refresh.calls).toHaveLength(0);
  });
});

describe('browserStore', () => {
  /** Storage as localStorage behaves: strings only. */
  function memoryStorage(): Storage {
    const items = new Map<string, string>();
    return {
      get length() {
        return items.size;
      },
      clear: () => items.clear(),
      getItem: (key) => items.get(key) ?? null,
      key: (index) => [...items.keys()][index] ?? null,
      removeItem: (key) => void items.delete(key),
      setItem: (key, value) => void items.set(key, String(value)),
    };
  }

  it('keeps refreshed tokens even when the answer carries more than the two strings', async () => {
    const storage = memoryStorage();
    const store = browserStore(storage);
    store.save({ tokens: first, user });
    // A refresh answer as the generated TokenPair has it: bigint timestamps beside the tokens.
    const answer = { ...second, expiresInSeconds: 900, accessTokenExpiresAt: { seconds: 1n, nanos: 0 } };
    const session = new Session(store, () => Promise.resolve(answer as Tokens));
    await systemClient(session, () => 'a2', []).getCurrentUser({});
    expect(browserStore(storage).load()).toEqual({ tokens: second, user });
  });

  it('reads a damaged entry as signed out', () => {
    const storage = memoryStorage();
    storage.setItem('astro.session', '{not json');
    expect(browserStore(storage).load()).toBeNull();
  });
});
