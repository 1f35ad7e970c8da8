//! Configuration comes from environment variables with one prefix per process
//! (`ASTRO_BOOKING_...`), parsed once at start-up into typed structs so that a typo fails at
//! boot with the variable's name instead of at the first request.

use std::{
    collections::{BTreeMap, HashMap},
    fmt::Display,
    net::SocketAddr,
    str::FromStr,
    sync::Mutex,
    time::Duration,
};

/// Every variable the process's `Config` asked for, in order, with the value it found: the
/// unknown-variable check and `--print-config` read it after the Config is built.
static READ: Mutex<BTreeMap<String, (usize, Option<String>)>> = Mutex::new(BTreeMap::new());

/// Reads the variables of one process, all named `<prefix>_<NAME>`.
#[derive(Debug, Clone)]
pub struct Env {
    prefix: String,
    /// `None` reads the process environment; tests pass their own values.
    values: Option<HashMap<String, String>>,
}

/// A variable that is missing or does not parse.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable} is required but not set")]
    Missing { variable: String },
    #[error("{variable}={value:?} is not valid: {reason}")]
    Invalid {
        variable: String,
        value: String,
        reason: String,
    },
    /// Set in the environment with the process's prefix but read by nothing: a typo, or a
    /// setting this version does not have, which would otherwise be silently ignored.
    #[error(
        "{variable} is set but is not a setting of this process (a typo, or a setting of another version?)"
    )]
    Unknown { variable: String },
}

impl Env {
    /// `prefix` is the upper-case process name, e.g. `ASTRO_BOOKING`.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            values: None,
        }
    }

    /// Reads from the given full variable names instead of the process environment.
    pub fn from_values(prefix: impl Into<String>, values: HashMap<String, String>) -> Self {
        Self {
            prefix: prefix.into(),
            values: Some(values),
        }
    }

    /// The full variable name for `name`.
    pub fn variable(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    fn raw(&self, name: &str) -> Option<String> {
        let variable = self.variable(name);
        let value = match &self.values {
            Some(values) => values.get(&variable).cloned(),
            None => std::env::var(&variable).ok(),
        }
        .filter(|value| !value.trim().is_empty());
        if let Ok(mut read) = READ.lock() {
            let order = read.len();
            read.entry(variable)
                .or_insert_with(|| (order, value.clone()));
        }
        value
    }

    /// A required value.
    pub fn required<T>(&self, name: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let value = self.raw(name).ok_or_else(|| ConfigError::Missing {
            variable: self.variable(name),
        })?;
        self.parse(name, value)
    }

    /// An optional value with a default.
    pub fn or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr + Display,
        T::Err: Display,
    {
        match self.raw(name) {
            Some(value) => self.parse(name, value),
            None => {
                record_default(&self.variable(name), &default);
                Ok(default)
            }
        }
    }

    /// A duration given in milliseconds, with a default.
    pub fn millis_or(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let default_millis = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
        match self.raw(name) {
            Some(value) => Ok(Duration::from_millis(self.parse(name, value)?)),
            None => {
                record_default(&self.variable(name), &default_millis);
                Ok(default)
            }
        }
    }

    /// A secret given inline as `<NAME>` or, better (it then never sits in an environment
    /// listing), as a file named by `<NAME>_FILE`, as Kubernetes mounts secrets. The file's
    /// trailing newline is not part of the secret. `None` when neither is set.
    pub fn secret(&self, name: &str) -> Result<Option<Secret>, ConfigError> {
        let file_name = format!("{name}_FILE");
        // Both spellings are settings, whichever is used.
        let inline = self.raw(name);
        if let Some(path) = self.raw(&file_name) {
            let value = std::fs::read_to_string(&path).map_err(|error| ConfigError::Invalid {
                variable: self.variable(&file_name),
                value: path.clone(),
                reason: format!("cannot read the file: {error}"),
            })?;
            return Ok(Some(Secret::new(value.trim_end_matches(['\r', '\n']))));
        }
        Ok(inline.map(Secret::new))
    }

    /// A required secret, given as [`Self::secret`] takes it: inline or, as Kubernetes mounts
    /// secrets, in the file `<NAME>_FILE` names. Connection URLs carrying credentials are read
    /// this way too.
    pub fn required_secret(&self, name: &str) -> Result<Secret, ConfigError> {
        self.secret(name)?.ok_or_else(|| ConfigError::Missing {
            variable: format!("{} (or {}_FILE)", self.variable(name), self.variable(name)),
        })
    }

    fn parse<T>(&self, name: &str, value: String) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        value
            .trim()
            .parse::<T>()
            .map_err(|error| ConfigError::Invalid {
                variable: self.variable(name),
                value,
                reason: error.to_string(),
            })
    }
}

/// Builds a process's configuration with `from_env`, then refuses any `<prefix>_*` variable it
/// did not read, naming it. With `--print-config` as the first argument, prints instead every
/// variable it read as an `export` line (unset ones as a comment: their default applies) and
/// exits: `./dev` writes its environment file from this, so the file holds exactly the
/// settings the Config defines.
pub fn load<C, E>(prefix: &str, from_env: impl FnOnce() -> Result<C, E>) -> anyhow::Result<C>
where
    E: Into<anyhow::Error>,
{
    let config = from_env().map_err(Into::into)?;
    let read = read_variables();
    let set = std::env::vars().map(|(name, _)| name);
    if let Some(variable) = unknown_variables(prefix, &read, set).into_iter().next() {
        return Err(ConfigError::Unknown { variable }.into());
    }
    if std::env::args().nth(1).as_deref() == Some("--print-config") {
        for (variable, value) in read.iter().filter(|(name, _)| name.starts_with(prefix)) {
            match value {
                Some(value) => match value.strip_prefix(DEFAULT_MARK) {
                    Some(default) => println!("# {variable} (default: {default})"),
                    None => println!("export {variable}='{}'", value.replace('\'', r"'\''")),
                },
                None => println!("# {variable} (not set)"),
            }
        }
        std::process::exit(0);
    }
    Ok(config)
}

/// The default an unset variable got, for `--print-config`.
fn record_default(variable: &str, default: &dyn Display) {
    if let Ok(mut read) = READ.lock()
        && let Some((_, found @ None)) = read.get_mut(variable)
    {
        *found = Some(format!("{DEFAULT_MARK}{default}"));
    }
}

/// Marks a recorded value as the default (never a real value: it starts with a NUL).
const DEFAULT_MARK: &str = "\0default:";

/// The variables read so far, in the order they were first read.
fn read_variables() -> Vec<(String, Option<String>)> {
    let read = READ.lock().map(|read| read.clone()).unwrap_or_default();
    let mut ordered: Vec<_> = read.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _))| *order);
    ordered
        .into_iter()
        .map(|(name, (_, value))| (name, value))
        .collect()
}

/// The names in `set` that carry `prefix_` but were never read.
fn unknown_variables(
    prefix: &str,
    read: &[(String, Option<String>)],
    set: impl Iterator<Item = String>,
) -> Vec<String> {
    let own = format!("{prefix}_");
    let mut unknown: Vec<String> = set
        .filter(|name| name.starts_with(&own))
        .filter(|name| !read.iter().any(|(known, _)| known == name))
        .collect();
    unknown.sort();
    unknown
}

/// How every gRPC server of the mesh listens, limits and stops.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `<PREFIX>_LISTEN_ADDR`.
    pub listen_addr: SocketAddr,
    /// `<PREFIX>_REQUEST_TIMEOUT_MS`: the longest any request may run (a shorter `grpc-timeout`
    /// from the caller wins). Default 10 s.
    pub request_timeout: Duration,
    /// `<PREFIX>_MAX_MESSAGE_BYTES`: the largest request message accepted. Default 4 MiB.
    pub max_message_bytes: usize,
    /// `<PREFIX>_DRAIN_DELAY_MS`: after SIGTERM, how long health says NOT_SERVING while requests
    /// are still accepted, so load balancers stop routing here first. Default 1 s.
    pub drain_delay: Duration,
    /// `<PREFIX>_DRAIN_TIMEOUT_MS`: then, how long in-flight requests may take to finish
    /// before the process exits anyway. Default 10 s.
    pub drain_timeout: Duration,
    /// `<PREFIX>_MAX_CONNECTION_AGE_MS`: a client connection is asked to go away (HTTP/2
    /// GOAWAY) after this long, so clients reconnect and spread over the replicas behind one
    /// Kubernetes Service address instead of staying on the first pod they met. The requests
    /// still running on it finish first. Default 5 min.
    pub max_connection_age: Duration,
    /// `ADMIN_ADDR`: where `/metrics` (Prometheus text) is served; empty (the default) serves
    /// none. Kubernetes scrapes it; the gateway never routes to it.
    pub admin_addr: Option<SocketAddr>,
    /// `METRICS_WINDOW_MS`: each window's request metrics go to SystemAPI's RecordMetrics at
    /// its end. Default 60 s.
    pub metrics_window: Duration,
}

/// An address that may be left empty (`None`).
pub fn optional_address(env: &Env, name: &str) -> Result<Option<SocketAddr>, ConfigError> {
    let text: String = env.or(name, String::new())?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|error: std::net::AddrParseError| ConfigError::Invalid {
            variable: env.variable(name),
            value: text,
            reason: error.to_string(),
        })
}

impl ServerConfig {
    /// Reads the server settings of the process with this prefix.
    pub fn from_env(env: &Env, default_listen_addr: SocketAddr) -> Result<Self, ConfigError> {
        Ok(Self {
            listen_addr: env.or("LISTEN_ADDR", default_listen_addr)?,
            request_timeout: env.millis_or("REQUEST_TIMEOUT_MS", Duration::from_secs(10))?,
            max_message_bytes: env.or("MAX_MESSAGE_BYTES", 4 * 1024 * 1024)?,
            drain_delay: env.millis_or("DRAIN_DELAY_MS", Duration::from_secs(1))?,
            drain_timeout: env.millis_or("DRAIN_TIMEOUT_MS", Duration::from_secs(10))?,
            max_connection_age: env.millis_or("MAX_CONNECTION_AGE_MS", Duration::from_secs(300))?,
            admin_addr: optional_address(env, "ADMIN_ADDR")?,
            metrics_window: env.millis_or("METRICS_WINDOW_MS", Duration::from_secs(60))?,
        })
    }
}

/// A secret (password, API key) that never shows in logs or `Debug` output.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Shown as `***`, e.g. as the (empty) default in `--print-config`.
impl Display for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(if self.0.is_empty() { "" } else { "***" })
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Secret(***)")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

/// The prefix of every CacheDB key of one deployment (`ASTRO_REDIS_KEY_PREFIX`, default
/// `astro:`): every process of the deployment must use the same one, since they share keys
/// such as the token denylist; tests give each mesh its own.
pub fn redis_key_prefix() -> String {
    std::env::var("ASTRO_REDIS_KEY_PREFIX")
        .ok()
        .filter(|prefix| !prefix.is_empty())
        .unwrap_or_else(|| "astro:".to_owned())
}

/// A URL that may carry credentials, shown in logs without them.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_nothing_read_are_the_unknown_ones() {
        let env = Env::from_values(
            "ASTRO_Y",
            HashMap::from([("ASTRO_Y_PORT".to_owned(), "80".to_owned())]),
        );
        assert_eq!(env.or("PORT", 1_u16).unwrap(), 80);
        assert_eq!(env.or("TIMEOUT_MS", 5_u64).unwrap(), 5);
        assert!(env.secret("PASSWORD").unwrap().is_none());
        let read = read_variables();
        let names: Vec<&str> = read.iter().map(|(name, _)| name.as_str()).collect();
        for expected in [
            "ASTRO_Y_PORT",
            "ASTRO_Y_TIMEOUT_MS",
            "ASTRO_Y_PASSWORD",
            "ASTRO_Y_PASSWORD_FILE",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        let set = [
            "ASTRO_Y_PORT",
            "ASTRO_Y_PASWORD",
            "ASTRO_YX_OTHER",
            "ASTRO_Y_PASSWORD_FILE",
            "PATH",
        ]
        .map(str::to_owned);
        assert_eq!(
            unknown_variables("ASTRO_Y", &read, set.into_iter()),
            vec!["ASTRO_Y_PASWORD".to_owned()]
        );
        let message = ConfigError::Unknown {
            variable: "ASTRO_Y_PASWORD".into(),
        }
        .to_string();
        assert!(
            message.starts_with("ASTRO_Y_PASWORD is set but"),
            "{message}"
        );
    }

    #[test]
    fn redact_url_hides_credentials_only() {
        assert_eq!(
            redact_url("postgres://user:secret@db:5432/astro"),
            "postgres://***@db:5432/astro"
        );
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }

    #[test]
    fn invalid_value_names_the_variable_and_value() {
        let env = Env::from_values(
            "ASTRO_X",
            HashMap::from([("ASTRO_X_PORT".to_owned(), "eighty".to_owned())]),
        );
        let error = env.required::<u16>("PORT").unwrap_err().to_string();
        assert!(
            error.starts_with("ASTRO_X_PORT=\"eighty\" is not valid"),
            "{error}"
        );
        let missing = env.required::<u16>("NOT_SET").unwrap_err().to_string();
        assert_eq!(missing, "ASTRO_X_NOT_SET is required but not set");
        assert_eq!(env.or("NOT_SET", 7_u16).unwrap(), 7);
    }

    #[test]
    fn a_secret_file_wins_over_the_inline_value_and_loses_its_newline() {
        let path = std::env::temp_dir().join(format!("astro-secret-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, "from-file\n").unwrap();
        let env = Env::from_values(
            "ASTRO_X",
            HashMap::from([
                ("ASTRO_X_PASSWORD".to_owned(), "inline".to_owned()),
                (
                    "ASTRO_X_PASSWORD_FILE".to_owned(),
                    path.display().to_string(),
                ),
                ("ASTRO_X_TOKEN".to_owned(), "inline-token".to_owned()),
                ("ASTRO_X_KEY_FILE".to_owned(), "/no/such/file".to_owned()),
            ]),
        );
        assert_eq!(
            env.secret("PASSWORD").unwrap().unwrap().expose(),
            "from-file"
        );
        assert_eq!(
            env.secret("TOKEN").unwrap().unwrap().expose(),
            "inline-token"
        );
        assert!(env.secret("NOT_SET").unwrap().is_none());
        let error = env.secret("KEY").unwrap_err().to_string();
        assert!(error.starts_with("ASTRO_X_KEY_FILE="), "{error}");
        assert_eq!(
            env.required_secret("PASSWORD").unwrap().expose(),
            "from-file"
        );
        let missing = env
            .required_secret("DATABASE_URL")
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            missing,
            "ASTRO_X_DATABASE_URL (or ASTRO_X_DATABASE_URL_FILE) is required but not set"
        );
        let _ = std::fs::remove_file(path);
    }
}
