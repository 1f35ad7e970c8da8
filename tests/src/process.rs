//! Real processes of the mesh, started from the built binaries and stopped when dropped.

use std::{
    collections::HashMap,
    fs::File,
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use anyhow::Context as _;
use astro_proto::astrobookings::common::v1::MeshService;
use astro_shared::grpc_client::TracedChannel;

use crate::TestServers;

/// The processes of the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    System,
    Agency,
    Booking,
    Finance,
    Notify,
    Gateway,
}

impl Service {
    pub const BACKENDS: [Self; 5] = [
        Self::System,
        Self::Agency,
        Self::Booking,
        Self::Finance,
        Self::Notify,
    ];

    /// `system`, `agency`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Agency => "agency",
            Self::Booking => "booking",
            Self::Finance => "finance",
            Self::Notify => "notify",
            Self::Gateway => "gateway",
        }
    }

    /// The public gRPC service this process serves.
    pub fn grpc_service(self) -> &'static str {
        match self {
            Self::System => "astrobookings.system.v1.SystemService",
            Self::Agency => "astrobookings.agency.v1.AgencyService",
            Self::Booking => "astrobookings.booking.v1.BookingService",
            Self::Finance => "astrobookings.finance.v1.FinanceService",
            Self::Notify => "astrobookings.notify.v1.NotifyService",
            Self::Gateway => "",
        }
    }

    fn env_prefix(self) -> String {
        format!("ASTRO_{}", self.name().to_uppercase())
    }

    /// The process's identity in service tokens.
    pub fn mesh_service(self) -> MeshService {
        match self {
            Self::System => MeshService::System,
            Self::Agency => MeshService::Agency,
            Self::Booking => MeshService::Booking,
            Self::Finance => MeshService::Finance,
            Self::Notify => MeshService::Notify,
            Self::Gateway => MeshService::Gateway,
        }
    }
}

/// A running process of ours; killed when dropped, so a failing test leaves nothing behind.
pub struct MeshProcess {
    pub service: Service,
    pub address: SocketAddr,
    pub log_path: PathBuf,
    child: Child,
}

impl MeshProcess {
    /// Starts `service` with `env` (full variable names) on top of a clean environment, and
    /// waits until it listens. Without a `<PREFIX>_LISTEN_ADDR` in `env` it binds port 0 and
    /// its log says where: nothing guesses a free port. Its output goes to a log file under
    /// `target/e2e-logs/`.
    pub async fn spawn(
        servers: &TestServers,
        service: Service,
        env: &HashMap<String, String>,
    ) -> anyhow::Result<Self> {
        let listen_variable = format!("{}_LISTEN_ADDR", service.env_prefix());
        let listen_addr = env
            .get(&listen_variable)
            .cloned()
            .unwrap_or_else(|| "127.0.0.1:0".to_owned());
        let binary = servers.bin_dir.join(format!("astro-{}", service.name()));
        anyhow::ensure!(
            binary.exists(),
            "{} is missing: build the workspace first (./dev test does)",
            binary.display()
        );
        let log_dir = servers
            .bin_dir
            .parent()
            .map_or_else(|| PathBuf::from("."), |target| target.join("e2e-logs"));
        std::fs::create_dir_all(&log_dir)?;
        let log_path = log_dir.join(format!(
            "{}-{}.log",
            service.name(),
            uuid::Uuid::new_v4().simple()
        ));
        let log = File::create(&log_path)?;
        // A process started on its own (not by a Mesh) still needs an identity to start.
        let mut identity = HashMap::new();
        if service != Service::Gateway {
            let keys = crate::keys::ServiceKeySet::shared()?;
            for (name, value) in [
                (
                    "SERVICE_KEY_FILE",
                    keys.key_file(service.mesh_service()).display().to_string(),
                ),
                ("SERVICE_PUBLIC_KEYS_DIR", keys.dir.display().to_string()),
            ] {
                identity.insert(format!("{}_{name}", service.env_prefix()), value);
            }
        }
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            // ASTRO_TEST_SERVICE_LOG=h2=debug,info etc. to see more of the processes' logs.
            .env(
                "RUST_LOG",
                std::env::var("ASTRO_TEST_SERVICE_LOG").unwrap_or_else(|_| "info".to_owned()),
            )
            .envs(identity)
            .envs(env)
            .env(&listen_variable, &listen_addr)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = command
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let address = match wait_listening(&mut child, &log_path).await {
            Ok(address) => address,
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                anyhow::bail!("{} did not listen: {error:#}; log:\n{log}", service.name());
            }
        };
        Ok(Self {
            service,
            address,
            log_path,
            child,
        })
    }

    /// The process's log so far (for assertions and failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The operating system's id of the process (e.g. to read its `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGTERM)
    }

    /// Freezes the process (SIGSTOP): its connections stay open but nothing answers, as with a
    /// process stuck on a lock or swapped out. [`Self::resume`] undoes it.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGSTOP)
    }

    /// Lets a frozen process run again (SIGCONT).
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGCONT)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, signal)?;
        Ok(())
    }

    /// Waits up to `timeout` for the process to exit; `None` if it is still running.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Some(status));
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MeshProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address a process logs once it listens (`"gRPC server listening"` or `"gateway
/// listening"`, JSON lines with an `address` field); an error if it exits first.
async fn wait_listening(
    child: &mut Child,
    log_path: &std::path::Path,
) -> anyhow::Result<SocketAddr> {
    // Generous: on 2 cores, several meshes may start at once while something compiles.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let log = std::fs::read_to_string(log_path).unwrap_or_default();
        if let Some(address) = listening_address(&log) {
            return Ok(address);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("it exited with {status}");
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no \"listening\" line within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn listening_address(log: &str) -> Option<SocketAddr> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            matches!(
                line["message"].as_str(),
                Some("gRPC server listening" | "gateway listening")
            )
        })
        .and_then(|line| line["address"].as_str()?.parse().ok())
}

/// Set to keep each mesh's databases after its test, to look into them.
const KEEP_DATA_VARIABLE: &str = "ASTRO_TEST_KEEP_DATA";

/// Options of a whole mesh started for one test.
#[derive(Debug, Clone, Default)]
pub struct MeshOptions {
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` for every process.
    pub otlp_endpoint: Option<String>,
    /// Extra variables for every process (e.g. shorter login windows).
    pub extra_env: HashMap<String, String>,
    /// Services that reach OperationsDB at another address (e.g. a forwarder the test closes)
    /// instead of the server's own; the database is the mesh's.
    pub postgres_via: HashMap<Service, String>,
}

/// The five services and the gateway, with a fresh OperationsDB database, a fresh SystemDB
/// database name, a CacheDB key prefix and a token signing key of their own.
pub struct Mesh {
    pub processes: HashMap<Service, MeshProcess>,
    /// Each process's environment, to restart it exactly as it was.
    envs: HashMap<Service, HashMap<String, String>>,
    /// SystemAPI's way to NotifyAPI (see `Mesh::start`).
    _notify_relay: crate::forwarder::Relay,
    _booking_relay: crate::forwarder::Relay,
    _agency_relay: crate::forwarder::Relay,
    _finance_relay: crate::forwarder::Relay,
    servers: TestServers,
    pub database_url: String,
    pub system_db_name: String,
    pub redis_key_prefix: String,
    pub keys: crate::keys::TestKeys,
    /// Every service's identity key.
    pub service_keys: crate::keys::ServiceKeySet,
    pub admin_email: String,
    pub admin_password: String,
    /// The secret FinanceAPI accepts webhook signatures under (`ASTRO_FINANCE_STRIPE_WEBHOOK_SECRETS`).
    pub stripe_webhook_secret: String,
}

impl Drop for Mesh {
    fn drop(&mut self) {
        // The processes hold connections to the databases: stop them first.
        self.processes.clear();
        if std::env::var_os(KEEP_DATA_VARIABLE).is_some() {
            return;
        }
        let servers = self.servers.clone();
        let postgres_url = self.database_url.clone();
        let system_db_name = self.system_db_name.clone();
        // Drop may run on the test's runtime, which must not be blocked; a thread of its own may.
        let dropped = std::thread::spawn(move || -> anyhow::Result<()> {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(servers.drop_databases(&postgres_url, &system_db_name))
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: the mesh's databases stay: {error:#}"),
            Err(_) => eprintln!("warning: the mesh's databases stay: dropping them panicked"),
        }
    }
}

impl Mesh {
    pub async fn start(servers: &TestServers, options: MeshOptions) -> anyhow::Result<Self> {
        let database_url = servers.fresh_postgres_database().await?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let system_db_name = format!("test_{unique}");
        let redis_key_prefix = format!("test:{unique}:");
        let keys = crate::keys::TestKeys::generate()?;
        let service_keys = crate::keys::ServiceKeySet::generate()?;
        let admin_email = format!("admin-{unique}@astrobookings.test");
        let admin_password = format!("admin-password-{unique}");
        let stripe_webhook_secret = format!("whsec_{unique}");
        let mut common = options.extra_env.clone();
        common.insert(
            "ASTRO_REDIS_KEY_PREFIX".to_owned(),
            redis_key_prefix.clone(),
        );
        if let Some(endpoint) = &options.otlp_endpoint {
            common.insert("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), endpoint.clone());
            // Export quickly so tests need not wait for the default 5 s batch delay.
            common.insert("OTEL_BSP_SCHEDULE_DELAY".to_owned(), "100".to_owned());
        }
        // Each process binds port 0 and is started after those it calls, so it is told their
        // addresses. SystemAPI and NotifyAPI call each other, and so do FinanceAPI and
        // BookingAPI, and SystemAPI (sync jobs, status probes) calls AgencyAPI, BookingAPI and
        // FinanceAPI, which call it:
        // the one started first is given a port of the harness's own, which relays to the
        // other once it listens.
        let notify_relay = crate::forwarder::Relay::bind().await?;
        let booking_relay = crate::forwarder::Relay::bind().await?;
        let agency_relay = crate::forwarder::Relay::bind().await?;
        let finance_relay = crate::forwarder::Relay::bind().await?;
        let mut addresses: HashMap<Service, SocketAddr> = HashMap::from([
            (Service::Notify, notify_relay.address),
            (Service::Booking, booking_relay.address),
            (Service::Agency, agency_relay.address),
            (Service::Finance, finance_relay.address),
        ]);
        let env_for = |service: Service,
                       addresses: &HashMap<Service, SocketAddr>|
         -> HashMap<String, String> {
            let url = |service: Service| format!("http://{}", addresses[&service]);
            // OperationsDB as this service reaches it: through the test's forwarder if any.
            let operations_db = options.postgres_via.get(&service).map_or_else(
                || database_url.clone(),
                |address| crate::with_address(&database_url, address),
            );
            let prefix = service.env_prefix();
            let mut env = common.clone();
            let mut set = |name: &str, value: &str| {
                env.insert(format!("{prefix}_{name}"), value.to_owned());
            };
            if service != Service::Gateway {
                let key_file = service_keys.key_file(service.mesh_service());
                set("SERVICE_KEY_FILE", &key_file.display().to_string());
                set(
                    "SERVICE_PUBLIC_KEYS_DIR",
                    &service_keys.dir.display().to_string(),
                );
            }
            if service != Service::System && service != Service::Gateway {
                set("SYSTEM_URL", &url(Service::System));
                set("REDIS_URL", &servers.redis_url);
            }
            match service {
                Service::System => {
                    set("MONGO_URL", &servers.mongo_url);
                    set("MONGO_DB", &system_db_name);
                    set("REDIS_URL", &servers.redis_url);
                    set("JWT_PRIVATE_KEY_FILE", &keys.pem_path.display().to_string());
                    set("ADMIN_EMAIL", &admin_email);
                    set("ADMIN_PASSWORD", &admin_password);
                    set("NOTIFY_URL", &url(Service::Notify));
                    set("AGENCY_URL", &url(Service::Agency));
                    set("BOOKING_URL", &url(Service::Booking));
                    set("FINANCE_URL", &url(Service::Finance));
                }
                Service::Agency => {
                    set("DATABASE_URL", &operations_db);
                }
                Service::Booking => {
                    set("DATABASE_URL", &operations_db);
                    set("FINANCE_URL", &url(Service::Finance));
                }
                Service::Finance => {
                    set("DATABASE_URL", &operations_db);
                    set("STRIPE_URL", &servers.stripe_url);
                    set("STRIPE_SECRET_KEY", "sk_test_astrobookings");
                    set("AGENCY_URL", &url(Service::Agency));
                    set("BOOKING_URL", &url(Service::Booking));
                    set("FEED_INTERVAL_MS", "100");
                    set("STRIPE_WEBHOOK_SECRETS", &stripe_webhook_secret);
                    // Payments are left to their webhook unless a test shortens this.
                    set("RECONCILE_INTERVAL_MS", "200");
                    set("RECONCILE_AFTER_MS", "600000");
                    set("OVERDUE_INTERVAL_MS", "200");
                }
                Service::Notify => {
                    set("MONGO_URL", &servers.mongo_url);
                    set("MONGO_DB", &system_db_name);
                    set("SMTP_HOST", &servers.smtp_host);
                    set("SMTP_PORT", &servers.smtp_port.to_string());
                    set("SMTP_TLS", "none");
                    // Test pace: retries and lapsed claims in (milli)seconds, not minutes. Idle workers poll
                    // at the default pace: every mesh of a test run shares one SystemDB server.
                    set("RETRY_BASE_MS", "200");
                    set("RETRY_MAX_MS", "2000");
                    set("LEASE_MS", "5000");
                    set("SMTP_TIMEOUT_MS", "3000");
                    set("FEED_INTERVAL_MS", "100");
                    set("PUBLIC_BASE_URL", "https://astrobookings.test");
                    set("DATABASE_URL", &operations_db);
                    set("BOOKING_URL", &url(Service::Booking));
                    set("AGENCY_URL", &url(Service::Agency));
                }
                Service::Gateway => {
                    // No REDIS_URL: no rate limits unless a test asks for them (extra_env).
                    for backend in Service::BACKENDS {
                        set(
                            &format!("{}_URL", backend.name().to_uppercase()),
                            &url(backend),
                        );
                    }
                }
            }
            // A test's own settings win over the defaults above (e.g. a service's CacheDB
            // behind a forwarder that the test closes).
            env.extend(options.extra_env.clone());
            env
        };

        let mut processes = HashMap::new();
        let mut envs = HashMap::new();
        for service in [
            Service::System,
            Service::Agency,
            Service::Finance,
            Service::Booking,
            Service::Notify,
            Service::Gateway,
        ] {
            let mut env = env_for(service, &addresses);
            let process = MeshProcess::spawn(servers, service, &env).await?;
            // A restart keeps the address the others were told.
            env.insert(
                format!("{}_LISTEN_ADDR", service.env_prefix()),
                process.address.to_string(),
            );
            addresses.insert(service, process.address);
            processes.insert(service, process);
            envs.insert(service, env);
        }
        notify_relay.point_to(addresses[&Service::Notify]);
        booking_relay.point_to(addresses[&Service::Booking]);
        agency_relay.point_to(addresses[&Service::Agency]);
        finance_relay.point_to(addresses[&Service::Finance]);
        let mesh = Self {
            processes,
            envs,
            _notify_relay: notify_relay,
            _booking_relay: booking_relay,
            _agency_relay: agency_relay,
            _finance_relay: finance_relay,
            servers: servers.clone(),
            database_url,
            system_db_name,
            redis_key_prefix,
            keys,
            service_keys,
            admin_email,
            admin_password,
            stripe_webhook_secret,
        };
        // Generous: on 2 cores, several meshes may start at once while something compiles.
        mesh.wait_ready(Duration::from_secs(60)).await?;
        Ok(mesh)
    }

    /// The environment `service` was started with (its own port included).
    pub fn env(&self, service: Service) -> &HashMap<String, String> {
        &self.envs[&service]
    }

    pub fn address(&self, service: Service) -> SocketAddr {
        self.processes[&service].address
    }

    /// A channel to `callee`'s internal RPCs as the service `caller` calls them: with
    /// `caller`'s service token (the gateway's is signed but unknown to the mesh).
    pub fn internal_channel(&self, callee: Service, caller: Service) -> TracedChannel {
        TracedChannel::new(
            crate::channel(self.address(callee)),
            Duration::from_secs(30),
        )
        .signed_by(
            self.service_keys.identity(caller.mesh_service()),
            callee.mesh_service(),
        )
    }

    /// Kills `service` with SIGKILL, as a crash would, and waits for it to be gone.
    pub async fn kill(&mut self, service: Service) -> anyhow::Result<()> {
        let process = self
            .processes
            .get_mut(&service)
            .context("no such process")?;
        process.child.kill()?;
        process.wait_exit(Duration::from_secs(10)).await?;
        Ok(())
    }

    /// As [`Self::restart`], with `overrides` (full names) changed in its environment from now
    /// on, e.g. a clock offset.
    pub async fn restart_with(
        &mut self,
        service: Service,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<()> {
        let env = self.envs.get_mut(&service).context("no such process")?;
        for (name, value) in overrides {
            env.insert((*name).to_owned(), (*value).to_owned());
        }
        self.kill(service).await?;
        self.restart(service).await
    }

    /// Starts `service` again with the environment it had (same address, same databases) and
    /// waits until its health reports SERVING.
    pub async fn restart(&mut self, service: Service) -> anyhow::Result<()> {
        let env = self.envs.get(&service).context("no such process")?.clone();
        let process = MeshProcess::spawn(&self.servers, service, &env).await?;
        let address = process.address;
        // The old one, if still there, is killed when dropped.
        self.processes.insert(service, process);
        let ready = crate::eventually(Duration::from_secs(60), || async {
            matches!(
                crate::health_status(address, service.grpc_service()).await,
                Ok(tonic_health::pb::health_check_response::ServingStatus::Serving)
            )
        })
        .await;
        anyhow::ensure!(
            ready,
            "{} did not come back: {}",
            service.name(),
            self.processes[&service].log()
        );
        Ok(())
    }

    /// The gateway's base URL, `http://127.0.0.1:PORT`.
    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.address(Service::Gateway))
    }

    async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.gateway_url());
        let ready = crate::eventually(timeout, || async {
            matches!(crate::grpc_web::http_get(&url).await, Ok((200, _)))
        })
        .await;
        if !ready {
            let logs: Vec<String> = self
                .processes
                .values()
                .map(|process| format!("--- {}\n{}", process.service.name(), process.log()))
                .collect();
            anyhow::bail!(
                "mesh not ready within {timeout:?}; logs:\n{}",
                logs.join("\n")
            );
        }
        Ok(())
    }
}
