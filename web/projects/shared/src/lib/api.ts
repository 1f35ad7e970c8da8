// One grpc-web transport to the gateway (this page's origin) and the clients of every public
// service, with the session's interceptor; the refresh itself goes through a transport
// without it, so a failing refresh cannot recurse.
import { Injectable, signal } from '@angular/core';
import { createClient, type Transport } from '@connectrpc/connect';
import { createGrpcWebTransport } from '@connectrpc/connect-web';
import { AgencyService } from '../gen/astrobookings/agency/v1/agency_pb';
import { BookingService } from '../gen/astrobookings/booking/v1/booking_pb';
import { FinanceService } from '../gen/astrobookings/finance/v1/finance_pb';
import { NotifyService } from '../gen/astrobookings/notify/v1/notify_pb';
import { SystemService } from '../gen/astrobookings/system/v1/system_pb';
import { browserStore, Session, type SignedIn, type Tokens } from './session';

/** Every call gets a deadline, so a stuck upstream shows an error instead of a spinner. */
const CALL_TIMEOUT_MS = 15_000;

function transport(interceptors: Session['interceptor'][] = []): Transport {
  return createGrpcWebTransport({
    baseUrl: window.location.origin,
    useBinaryFormat: true,
    interceptors,
    defaultTimeoutMs: CALL_TIMEOUT_MS,
  });
}

@Injectable({ providedIn: 'root' })
export class Api {
  private readonly refresher = createClient(SystemService, transport());

  readonly session = new Session(browserStore(), async (refreshToken): Promise<Tokens> => {
    const answer = await this.refresher.refreshTokens({ refreshToken });
    if (!answer.tokens) {
      throw new Error('no tokens in the refresh answer');
    }
    return { accessToken: answer.tokens.accessToken, refreshToken: answer.tokens.refreshToken };
  });

  /** Who is signed in (null: a visitor), for templates. */
  readonly signedIn = signal<SignedIn | null>(this.session.signedIn);

  private readonly authenticated = transport([this.session.interceptor]);
  readonly system = createClient(SystemService, this.authenticated);
  readonly booking = createClient(BookingService, this.authenticated);
  readonly agency = createClient(AgencyService, this.authenticated);
  readonly notify = createClient(NotifyService, this.authenticated);
  readonly finance = createClient(FinanceService, this.authenticated);

  constructor() {
    this.session.onChange((session) => this.signedIn.set(session));
    // Another app (tab) on this origin signed in or out.
    window.addEventListener('storage', () => this.session.reload());
  }

  /** Ends the session at SystemAPI (revoking the refresh family) and here. */
  async signOut(): Promise<void> {
    const current = this.session.signedIn;
    try {
      if (current) {
        await this.system.logout({ refreshToken: current.tokens.refreshToken });
      }
    } finally {
      this.session.clear();
    }
  }
}
