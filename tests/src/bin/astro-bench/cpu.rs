//! CPU time of the processes a phase runs on, read from `/proc/<pid>/stat` before and after
//! it: the primary figure, since requests/s on 2 shared cores moves with whatever else runs.

use std::collections::BTreeMap;

/// One process to watch, by the name the report shows.
#[derive(Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
    /// Count its children too: live ones, and the CPU of those it has reaped (`cutime`,
    /// `cstime`), so a PostgreSQL backend that exits mid-phase still counts.
    pub with_children: bool,
}

/// CPU seconds of every watched process at one moment.
pub type CpuSample = BTreeMap<String, f64>;

pub struct CpuMeter {
    watched: Vec<Watched>,
    ticks_per_second: f64,
}

/// `utime stime cutime cstime ppid` of one process.
struct Stat {
    own: u64,
    reaped: u64,
    parent: u32,
}

fn stat(pid: &str) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let number = |index: usize| {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
    };
    Some(Stat {
        parent: u32::try_from(number(1)?).ok()?,
        own: number(11)? + number(12)?,
        reaped: number(13)? + number(14)?,
    })
}

impl CpuMeter {
    pub fn new(watched: Vec<Watched>) -> Self {
        let ticks_per_second = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .unwrap_or(100.0);
        Self {
            watched,
            ticks_per_second,
        }
    }

    pub fn add(&mut self, watched: Watched) {
        self.watched.retain(|known| known.name != watched.name);
        self.watched.push(watched);
    }

    pub fn remove(&mut self, name: &str) {
        self.watched.retain(|known| known.name != name);
    }

    pub fn names(&self) -> Vec<String> {
        self.watched
            .iter()
            .map(|watched| watched.name.clone())
            .collect()
    }

    pub fn sample(&self) -> CpuSample {
        let parents: Vec<(u32, u64)> = if self.watched.iter().any(|w| w.with_children) {
            std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    name.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
                    let stat = stat(&name)?;
                    Some((stat.parent, stat.own))
                })
                .collect()
        } else {
            Vec::new()
        };
        self.watched
            .iter()
            .map(|watched| {
                let mut ticks = 0;
                if let Some(stat) = stat(&watched.pid.to_string()) {
                    ticks += stat.own;
                    if watched.with_children {
                        ticks += stat.reaped
                            + parents
                                .iter()
                                .filter(|(parent, _)| *parent == watched.pid)
                                .map(|(_, own)| own)
                                .sum::<u64>();
                    }
                }
                (watched.name.clone(), ticks as f64 / self.ticks_per_second)
            })
            .collect()
    }
}

/// CPU milliseconds per request of each process between two samples.
pub fn per_request(
    before: &CpuSample,
    after: &CpuSample,
    requests: usize,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(name, seconds)| {
            let used = seconds - before.get(name).copied().unwrap_or(*seconds);
            (name.clone(), used * 1000.0 / requests.max(1) as f64)
        })
        .collect()
}
