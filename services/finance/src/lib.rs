//! FinanceAPI: payments through the payment gateway (Stripe's API), invoices and
//! revenue reports, in OperationsDB (PostgreSQL).

pub mod api;
pub mod app;
pub mod clients;
pub mod domain;
pub mod payment_gateway;
pub mod store;

use std::{future::Future, time::Duration};

use astro_proto::astrobookings::{
    agency::v1::agency_internal_service_client::AgencyInternalServiceClient,
    booking::v1::booking_internal_service_client::BookingInternalServiceClient,
    common::v1::MeshService,
    finance::v1::{
        finance_internal_service_server::{self, FinanceInternalServiceServer},
        finance_service_server::{self, FinanceServiceServer},
    },
};
use astro_shared::{
    activity::ActivityLog,
    auth,
    changes::{ChangeFeed, run_feed},
    config::{Env, Secret, ServerConfig},
    db,
    instance::Probe,
    server::{BoundGrpcServer, GrpcServer, Observability},
    service_auth::{ServiceAuthConfig, ServiceCredentials},
};

/// Everything FinanceAPI reads from `ASTRO_FINANCE_*`.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `ASTRO_FINANCE_SYSTEM_URL`: SystemAPI, whose JWKS verifies access tokens
    /// (default `http://127.0.0.1:50051`).
    pub system_url: String,
    /// `ASTRO_FINANCE_REDIS_URL`: CacheDB (the token denylist).
    pub redis_url: String,
    /// `ASTRO_FINANCE_DATABASE_URL`: OperationsDB.
    pub database_url: String,
    /// `ASTRO_FINANCE_DATABASE_MAX_CONNECTIONS` (default 10).
    pub database_max_connections: u32,
    /// `ASTRO_FINANCE_STRIPE_URL`: the Stripe API base URL (localstripe in dev and tests).
    pub stripe_url: String,
    /// `ASTRO_FINANCE_STRIPE_SECRET_KEY`: never logged.
    pub stripe_secret_key: Secret,
    /// `ASTRO_FINANCE_STRIPE_TIMEOUT_MS`: longest one HTTP call to the gateway may take
    /// (default 10000).
    pub stripe_timeout: Duration,
    /// `ASTRO_FINANCE_GATEWAY_LEASE_MS`: how long one attempt may hold a charge or a refund
    /// for its gateway calls before another may take over (default 30000); longer than the
    /// Stripe timeout, since it is renewed right before each call that moves money.
    pub gateway_lease: Duration,
    /// `ASTRO_FINANCE_GATEWAY_WAIT_MS`: how long a retry waits for a concurrent attempt's
    /// outcome before answering with what is known, e.g. PENDING (default 5000).
    pub gateway_wait: Duration,
    /// `ASTRO_FINANCE_AGENCY_URL`: AgencyAPI, which knows launches and the agencies to bill
    /// (default `http://127.0.0.1:50052`).
    pub agency_url: String,
    /// `ASTRO_FINANCE_BOOKING_URL`: BookingAPI, which knows a launch's revenue (default
    /// `http://127.0.0.1:50053`).
    pub booking_url: String,
    /// `ASTRO_FINANCE_TIME_ZONE`: the platform's IANA time zone for invoices' legal dates, the
    /// years of their numbers and report periods (default UTC). Fixed for a deployment:
    /// changing it moves where later invoices' days begin, never an issued invoice.
    pub time_zone: chrono_tz::Tz,
    /// `ASTRO_FINANCE_CLOCK_OFFSET_MS` (default 0): added to the clock for legal dates, due
    /// dates and statuses, so tests reach a year's end or a due date without waiting.
    pub clock_offset_ms: i64,
    /// `ASTRO_FINANCE_FEED_INTERVAL_MS`: how often the change log is read for launches that
    /// ended (default 500 ms).
    pub feed_interval: Duration,
    /// `ASTRO_FINANCE_STRIPE_WEBHOOK_SECRETS` (or `_FILE`): the webhook endpoint's signing
    /// secrets (`whsec_...`), comma-separated; a delivery signed with any of them is accepted,
    /// so a secret is rotated by adding the new one, then removing the old. None configured:
    /// every delivery is refused (and the reconciliation alone settles gateway payments).
    pub stripe_webhook_secrets: Vec<Secret>,
    /// `ASTRO_FINANCE_RECONCILE_INTERVAL_MS` (default 30000) and
    /// `ASTRO_FINANCE_RECONCILE_AFTER_MS` (default 60000): how often open gateway payments
    /// are read back from the gateway, and how long each is first left to its webhook.
    pub reconciliation: app::invoice_checkout::Reconciliation,
    /// `ASTRO_FINANCE_OVERDUE_INTERVAL_MS`: how often unpaid invoices past their due date are
    /// marked OVERDUE and reminded (default 60000).
    pub overdue_interval: Duration,
    /// `ASTRO_FINANCE_SERVICE_KEY_FILE` and `ASTRO_FINANCE_SERVICE_PUBLIC_KEYS_DIR`: this
    /// service's identity for internal calls and its callers' public keys.
    pub service_auth: ServiceAuthConfig,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let env = Env::new("ASTRO_FINANCE");
        Self {
            redis_url: env.required_secret("REDIS_URL")?.expose().to_owned(),
            system_url: env.or("SYSTEM_URL", "http://127.0.0.1:50051".to_owned())?,
            server: ServerConfig::from_env(&env, ([127, 0, 0, 1], 50054).into())?,
            database_url: env.required_secret("DATABASE_URL")?.expose().to_owned(),
            database_max_connections: env.or("DATABASE_MAX_CONNECTIONS", 10)?,
            stripe_url: env.or("STRIPE_URL", "https://api.stripe.com/".to_owned())?,
            stripe_secret_key: env.required_secret("STRIPE_SECRET_KEY")?,
            stripe_timeout: env.millis_or("STRIPE_TIMEOUT_MS", Duration::from_secs(10))?,
            gateway_lease: env.millis_or("GATEWAY_LEASE_MS", Duration::from_secs(30))?,
            gateway_wait: env.millis_or("GATEWAY_WAIT_MS", Duration::from_secs(5))?,
            agency_url: env.or("AGENCY_URL", "http://127.0.0.1:50052".to_owned())?,
            booking_url: env.or("BOOKING_URL", "http://127.0.0.1:50053".to_owned())?,
            time_zone: env.or("TIME_ZONE", chrono_tz::Tz::UTC)?,
            clock_offset_ms: env.or("CLOCK_OFFSET_MS", 0)?,
            feed_interval: env.millis_or("FEED_INTERVAL_MS", Duration::from_millis(500))?,
            stripe_webhook_secrets: env
                .secret("STRIPE_WEBHOOK_SECRETS")?
                .map(|secrets| {
                    secrets
                        .expose()
                        .split(',')
                        .map(str::trim)
                        .filter(|secret| !secret.is_empty())
                        .map(Secret::new)
                        .collect()
                })
                .unwrap_or_default(),
            reconciliation: app::invoice_checkout::Reconciliation {
                interval: env.millis_or("RECONCILE_INTERVAL_MS", Duration::from_secs(30))?,
                after: env.millis_or("RECONCILE_AFTER_MS", Duration::from_secs(60))?,
            },
            overdue_interval: env.millis_or("OVERDUE_INTERVAL_MS", Duration::from_secs(60))?,
            service_auth: ServiceAuthConfig::from_env(&env)?,
        }
        .validated()
    }

    /// A lease shorter than one gateway call could let two attempts call at once.
    fn validated(self) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.gateway_lease > self.stripe_timeout + Duration::from_secs(1),
            "ASTRO_FINANCE_GATEWAY_LEASE_MS ({} ms) must exceed ASTRO_FINANCE_STRIPE_TIMEOUT_MS \
             ({} ms) by more than a second",
            self.gateway_lease.as_millis(),
            self.stripe_timeout.as_millis()
        );
        Ok(self)
    }
}

/// This service's name in activity logs and origins (`common.v1.Origin.service`).
pub const SERVICE_NAME: &str = "finance-api";

/// The use cases the RPCs call.
#[derive(Clone)]
pub struct State {
    /// Booking charges and their cancellation through the payment gateway.
    pub payments: app::payments::Payments,
    /// Refunds of booking charges through the payment gateway.
    pub refunds: app::refunds::Refunds,
    /// Launch fee invoices and the payments FINANCE records against them.
    pub invoices: app::invoices::Invoices,
    /// Agencies paying invoices through the payment gateway, and the gateway's webhook.
    pub checkout: app::invoice_checkout::InvoiceCheckout,
    /// Reminders of overdue invoices.
    pub reminders: app::reminders::Reminders,
    /// FINANCE's agency revenue and annual reports.
    pub reports: app::reports::Reports,
}

/// Connects (lazily) and binds; the returned future finishes once its databases answer.
pub async fn build(
    config: Config,
) -> anyhow::Result<(BoundGrpcServer, impl Future<Output = ()> + Send + 'static)> {
    let (operations_db, operations_db_ready) =
        db::postgres(&config.database_url, config.database_max_connections)?;
    let (cache, cache_ready) = db::redis(&config.redis_url)?;
    let ServiceCredentials { identity, keys } =
        ServiceCredentials::load(MeshService::Finance, &config.service_auth)?;
    let activity = ActivityLog::connect(&config.system_url, SERVICE_NAME, &identity)?;
    let observability = Observability::reporting_to(
        SERVICE_NAME,
        vec![
            Probe::postgres(operations_db.clone()),
            Probe::redis(cache.clone()),
            Probe::tcp("payment-gateway", &config.stripe_url),
        ],
        &config.system_url,
        &identity,
    )?;
    let store = store::Store::new(operations_db);
    let channel = |url: &str, callee| identity.channel(url, Duration::from_secs(10), callee);
    let directory = clients::Directory {
        agency: AgencyInternalServiceClient::new(channel(&config.agency_url, MeshService::Agency)?),
        booking: BookingInternalServiceClient::new(channel(
            &config.booking_url,
            MeshService::Booking,
        )?),
    };
    let calendar = domain::invoice::Calendar {
        time_zone: config.time_zone,
        clock_offset: chrono::Duration::milliseconds(config.clock_offset_ms),
    };
    let reports = app::reports::Reports::new(store.clone(), directory.clone(), calendar);
    let invoices =
        app::invoices::Invoices::new(store.clone(), directory, activity.clone(), calendar);
    let reminders = app::reminders::Reminders::new(
        store.clone(),
        activity.clone(),
        calendar,
        config.overdue_interval,
    );
    let overdue_job = reminders.clone();
    let gateway = payment_gateway::PaymentGateway::new(
        &config.stripe_url,
        &config.stripe_secret_key,
        config.stripe_timeout,
    )?;
    let timing = app::GatewayTiming {
        lease: config.gateway_lease,
        wait: config.gateway_wait,
    };
    let payments =
        app::payments::Payments::new(store.clone(), gateway.clone(), activity.clone(), timing);
    if config.stripe_webhook_secrets.is_empty() {
        tracing::warn!(
            "ASTRO_FINANCE_STRIPE_WEBHOOK_SECRETS is not set: every payment gateway webhook will \
             be refused"
        );
    }
    let checkout = app::invoice_checkout::InvoiceCheckout::new(
        store.clone(),
        gateway.clone(),
        activity.clone(),
        config.gateway_lease,
        config.stripe_webhook_secrets.clone(),
        config.reconciliation,
    );
    let reconciliation = checkout.clone();
    let feed = ChangeFeed::new(
        store.pool().clone(),
        "finance-launch-invoicing",
        &app::invoices::EVENTS,
    );
    let refunds = app::refunds::Refunds::new(store, gateway, activity, timing, payments.clone());
    let invoicing = app::invoices::LaunchInvoicing(invoices.clone());
    let feed_interval = config.feed_interval;
    let api = api::FinanceApi::new(State {
        payments,
        refunds,
        invoices,
        checkout,
        reminders,
        reports,
    });
    let max_message_bytes = config.server.max_message_bytes;
    let auth = auth::remote_auth_layer(
        &config.system_url,
        cache,
        keys,
        &[
            finance_service_server::SERVICE_NAME,
            finance_internal_service_server::SERVICE_NAME,
        ],
    )?;
    let server = GrpcServer::new(config.server, auth, observability)
        .add_service(
            FinanceServiceServer::new(api.clone()).max_decoding_message_size(max_message_bytes),
        )
        .add_service(
            FinanceInternalServiceServer::new(api).max_decoding_message_size(max_message_bytes),
        )
        .bind()
        .await?;
    Ok((server, async move {
        tokio::join!(operations_db_ready, cache_ready);
        // Launches that ended are invoiced from the change log, once OperationsDB answers.
        tokio::spawn(run_feed(feed, invoicing, feed_interval));
        // Gateway payments whose webhook was lost are settled from the gateway itself.
        tokio::spawn(reconciliation.run_reconciliation());
        // Unpaid invoices past their due date: OVERDUE, then reminded on schedule.
        tokio::spawn(overdue_job.run());
    }))
}

/// Serves until SIGTERM.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let (server, ready) = build(config).await?;
    server.serve(ready).await
}
