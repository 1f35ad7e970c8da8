//! A PostgreSQL server of one test's own, from Debian's PostgreSQL 15 binaries (as `./dev`
//! uses), for tests that restart, crash or freeze the database: the shared test server serves
//! every other test running at the same time.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
};

use anyhow::Context as _;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A running server, stopped and removed when dropped.
pub struct PrivatePostgres {
    dir: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub admin_url: String,
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root).
fn pg_command(tool: &str) -> Command {
    let binary = format!("{PG_BIN}/{tool}");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"));
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", &binary]);
        command
    } else {
        Command::new(binary)
    }
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run {what}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

impl PrivatePostgres {
    /// initdb in a fresh directory and start on a free port.
    pub fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "astro-private-pg-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir)?;
        let _ = Command::new("chown")
            .args(["postgres:postgres", &dir.display().to_string()])
            .status();
        let port = crate::free_address().port();
        let mut initdb = pg_command("initdb");
        initdb.args(["-D", &dir.join("data").display().to_string()]);
        initdb.args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]);
        run(initdb, "initdb")?;
        let server = Self {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            port,
        };
        server.pg_ctl_start()?;
        Ok(server)
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let mut start = pg_command("pg_ctl");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        start.args(["-D", &self.data(), "-w", "-t", "30", "-o", &options]);
        start.args(["-l", &self.dir.join("server.log").display().to_string()]);
        start.arg("start");
        run(start, "pg_ctl start")
    }

    /// `pg_ctl stop -m immediate` (a crash: no checkpoint, clients cut), then start again; it
    /// returns once the server accepts connections.
    pub fn restart_immediate(&self) -> anyhow::Result<()> {
        let mut stop = pg_command("pg_ctl");
        stop.args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        run(stop, "pg_ctl stop")?;
        self.pg_ctl_start()
    }

    /// The server's processes: the postmaster and every backend.
    fn processes(&self) -> anyhow::Result<Vec<i32>> {
        let pid_file = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))?;
        let postmaster: i32 = pid_file
            .lines()
            .next()
            .context("empty postmaster.pid")?
            .trim()
            .parse()?;
        let mut pids = vec![postmaster];
        for entry in std::fs::read_dir("/proc")?.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces, so read after the last ')'.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<i32>().ok());
            if parent == Some(postmaster) {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    fn signal(&self, signal: nix::sys::signal::Signal) -> anyhow::Result<()> {
        for pid in self.processes()? {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
        }
        Ok(())
    }

    /// SIGSTOP to every process of the server: it stops answering, connections stay open.
    pub fn freeze(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGSTOP)
    }

    /// SIGCONT: it answers again, as if nothing happened.
    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal(nix::sys::signal::Signal::SIGCONT)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.resume();
        let mut stop = pg_command("pg_ctl");
        stop.args(["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
        let _ = stop.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
