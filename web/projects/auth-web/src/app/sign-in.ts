// Signing in: the tokens and the account go into the shared session, then the user goes where
// they were headed (a path on this site only) or to their role's start page.
import type { Api } from '@astro/shared';
import { homeOf } from '@astro/shared';

export async function signIn(api: Api, email: string, password: string): Promise<void> {
  const answer = await api.system.login({ email, password });
  if (!answer.tokens || !answer.user) {
    throw new Error('the sign-in answer has no tokens');
  }
  const { id, name, role } = answer.user;
  api.session.signIn({
    tokens: { accessToken: answer.tokens.accessToken, refreshToken: answer.tokens.refreshToken },
    user: { id, email: answer.user.email, name, role },
  });
  window.location.assign(nextPage() ?? homeOf(role));
}

/** `?next=/traveler/book/x`: only a path of this origin, never another site. */
function nextPage(): string | null {
  const next = new URLSearchParams(window.location.search).get('next');
  return next && next.startsWith('/') && !next.startsWith('//') ? next : null;
}
