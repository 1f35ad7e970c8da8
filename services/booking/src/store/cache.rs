//! The catalogue in CacheDB, under `<prefix>catalogue:`:
//!
//! - `entries`: hash launch id → entry (JSON), bookable launches only;
//! - `slugs`: hash slug → launch id, which the scripts keep unique;
//! - `stamps`: hash launch id → when the launch was last read from OperationsDB (µs), kept
//!   for removed launches too, so an older read cannot bring one back;
//! - `floor`: the read time of the last complete rebuild; anything read earlier is stale;
//! - `version`: bumped by every write, so readers know when their in-memory copy is stale;
//! - `built`: set by a complete rebuild (a fresh id each time). Missing means CacheDB lost the
//!   catalogue (restarted empty): readers go to OperationsDB until it is rebuilt.
//!
//! Readers serve an in-memory snapshot of `entries` (indexed by id and slug), re-reading the
//! marks at most every [`NEAR_CACHE_RECHECK`] and at once after this process's own writes.
//!
//! Writes are Lua scripts, so each refresh lands whole and is checked against the stamps
//! atomically, whatever the number of BookingAPI replicas writing at once.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use astro_shared::{AppError, AppResult};
use chrono::{DateTime, Utc};
use fred::{
    clients::WithOptions,
    interfaces::LuaInterface as _,
    prelude::{
        Client, ClientLike as _, EventInterface as _, HashesInterface as _, KeysInterface as _,
        Options,
    },
    types::Value,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::catalogue::{Entry, LaunchKey};

/// Upserts (entry JSON) or removes (empty JSON) launches read at `ARGV[1]`, each only if no
/// later read of it was written already and no rebuild read it later.
/// KEYS: entries, slugs, stamps, floor, version. ARGV: read time, then (id, json) pairs.
/// Returns how many entries it wrote or removed that differed from what CacheDB held, the read
/// time (`refreshed_at_us`, the last field) aside.
const APPLY: &str = r"
local function content(json)
  -- \34 is a double quote.
  return (string.gsub(json or '', ',\34refreshed_at_us\34:%-?%d+}$', '}'))
end
local at = tonumber(ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[4]) or '-1')
if at < floor then return 0 end
local applied = 0
local changed = 0
for i = 2, #ARGV, 2 do
  local id, json = ARGV[i], ARGV[i + 1]
  local stamp = tonumber(redis.call('HGET', KEYS[3], id) or '-1')
  if at >= stamp then
    local old = redis.call('HGET', KEYS[1], id)
    if content(old) ~= content(json) then changed = changed + 1 end
    if old then
      local slug = cjson.decode(old)['slug']
      if redis.call('HGET', KEYS[2], slug) == id then redis.call('HDEL', KEYS[2], slug) end
    end
    if json == '' then
      redis.call('HDEL', KEYS[1], id)
    else
      redis.call('HSET', KEYS[1], id, json)
      redis.call('HSET', KEYS[2], cjson.decode(json)['slug'], id)
    end
    redis.call('HSET', KEYS[3], id, ARGV[1])
    applied = applied + 1
  end
end
if applied > 0 then redis.call('INCR', KEYS[5]) end
return changed
";

/// Ends a complete rebuild that read everything at `ARGV[1]`: removes what it did not see (read
/// earlier), forgets stamps the floor now covers, and marks the catalogue built (`ARGV[2]`).
/// KEYS: entries, slugs, stamps, floor, version, built. Returns the entries removed.
const SWEEP: &str = r"
local before = tonumber(ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[4]) or '-1')
local stamps = redis.call('HGETALL', KEYS[3])
local stamped = {}
local removed = 0
for i = 1, #stamps, 2 do
  local id, stamp = stamps[i], tonumber(stamps[i + 1])
  stamped[id] = true
  if stamp < before then
    local old = redis.call('HGET', KEYS[1], id)
    if old then
      local slug = cjson.decode(old)['slug']
      if redis.call('HGET', KEYS[2], slug) == id then redis.call('HDEL', KEYS[2], slug) end
      redis.call('HDEL', KEYS[1], id)
      removed = removed + 1
    end
    redis.call('HDEL', KEYS[3], id)
  end
end
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not stamped[id] then
    local old = redis.call('HGET', KEYS[1], id)
    local slug = cjson.decode(old)['slug']
    if redis.call('HGET', KEYS[2], slug) == id then redis.call('HDEL', KEYS[2], slug) end
    redis.call('HDEL', KEYS[1], id)
    removed = removed + 1
  end
end
if before > floor then redis.call('SET', KEYS[4], ARGV[1]) end
redis.call('SET', KEYS[6], ARGV[2])
redis.call('INCR', KEYS[5])
return removed
";

/// Longest a read may take before the request turns to OperationsDB instead.
const READ_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a write may take; a failed write is retried by its caller (the change feed).
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Launches per script call: keeps one script's arguments and run time small.
const CHUNK: usize = 500;

/// How long a snapshot is served from memory before CacheDB's `built` and `version` marks are
/// read again. This process's own writes (the change feed, sync batches) drop the snapshot at
/// once; a write by another replica is seen within this bound. A catalogue read then costs no
/// CacheDB round trip at all, which is most of what BookingAPI spent on it.
pub const NEAR_CACHE_RECHECK: Duration = Duration::from_millis(100);

/// An entry as CacheDB stores it. Plain JSON (readable with redis-cli), and the Lua scripts read
/// `slug` from it.
#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    slug: String,
    agency_id: String,
    agency_name: String,
    rocket_name: String,
    range: String,
    spaceport: String,
    destination: String,
    scheduled_at_us: i64,
    price_minor: i64,
    currency: String,
    status: String,
    capacity: i32,
    seats_available: i32,
    /// Last: APPLY compares entries without it, by cutting it off the end.
    refreshed_at_us: i64,
}

fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

fn encode(entry: &Entry) -> AppResult<String> {
    serde_json::to_string(&Stored {
        id: entry.id.to_string(),
        slug: entry.slug.clone(),
        agency_id: entry.agency_id.to_string(),
        agency_name: entry.agency_name.clone(),
        rocket_name: entry.rocket_name.clone(),
        range: entry.range.clone(),
        spaceport: entry.spaceport.clone(),
        destination: entry.destination.clone(),
        scheduled_at_us: micros(entry.scheduled_at),
        price_minor: entry.price_minor,
        currency: entry.currency.clone(),
        status: entry.status.clone(),
        capacity: entry.capacity,
        seats_available: entry.seats_available,
        refreshed_at_us: micros(entry.refreshed_at),
    })
    .map_err(AppError::internal)
}

fn decode(json: &str) -> AppResult<Entry> {
    let stored: Stored = serde_json::from_str(json).map_err(AppError::internal)?;
    let time = |us: i64| {
        DateTime::from_timestamp_micros(us)
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("catalogue entry time {us}")))
    };
    let id = |text: &str| text.parse::<Uuid>().map_err(AppError::internal);
    Ok(Entry {
        id: id(&stored.id)?,
        slug: stored.slug,
        agency_id: id(&stored.agency_id)?,
        agency_name: stored.agency_name,
        rocket_name: stored.rocket_name,
        range: stored.range,
        spaceport: stored.spaceport,
        destination: stored.destination,
        scheduled_at: time(stored.scheduled_at_us)?,
        price_minor: stored.price_minor,
        currency: stored.currency,
        status: stored.status,
        capacity: stored.capacity,
        seats_available: stored.seats_available,
        refreshed_at: time(stored.refreshed_at_us)?,
    })
}

struct Keys {
    entries: String,
    slugs: String,
    stamps: String,
    floor: String,
    version: String,
    built: String,
}

/// Every entry as of one catalogue version; shared by the requests of this process until the
/// version moves.
pub struct Snapshot {
    built: String,
    version: String,
    pub entries: Vec<Entry>,
    /// Index into `entries` by launch id and by slug, for GetLaunch.
    by_id: HashMap<Uuid, usize>,
    by_slug: HashMap<String, usize>,
}

impl Snapshot {
    fn new(built: String, version: String, entries: Vec<Entry>) -> Self {
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.id, index))
            .collect();
        let by_slug = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| (entry.slug.clone(), index))
            .collect();
        Self {
            built,
            version,
            entries,
            by_id,
            by_slug,
        }
    }

    /// The entry of `key`, if the catalogue holds it.
    pub fn find(&self, key: &LaunchKey) -> Option<&Entry> {
        let index = match key {
            LaunchKey::Id(id) => self.by_id.get(id),
            LaunchKey::Slug(slug) => self.by_slug.get(slug.as_str()),
        }?;
        self.entries.get(*index)
    }
}

/// The snapshot this process serves from memory, and when its marks were last read.
struct Held {
    snapshot: Arc<Snapshot>,
    checked_at: Instant,
}

/// One change to write: the launch and its entry, or `None` to remove it.
pub type Change<'a> = (Uuid, Option<&'a Entry>);

#[derive(Clone)]
pub struct Cache {
    client: Client,
    /// Commands fail at once while disconnected and are never re-sent after a reconnection:
    /// the catalogue always has a better move (OperationsDB, or the feed's next round) than
    /// waiting for CacheDB.
    reads: WithOptions<Client>,
    writes: WithOptions<Client>,
    keys: Arc<Keys>,
    /// The last snapshot read, reused while `built` and `version` are unchanged.
    held: Arc<RwLock<Option<Held>>>,
    /// Raised by every write of this process: a snapshot whose read began before a write is
    /// served once but not kept, so this process never serves its own stale data afterwards.
    writes_seen: Arc<AtomicU64>,
}

fn not_connected() -> AppError {
    AppError::unavailable("CacheDB", anyhow::anyhow!("not connected"))
}

/// A failed command: CacheDB is unavailable (fail-fast commands report a lost connection as
/// "too many write attempts", an unknown kind), unless the command itself was wrong.
fn failed(error: fred::error::Error) -> AppError {
    use fred::error::ErrorKind;
    match error.kind() {
        ErrorKind::InvalidCommand | ErrorKind::InvalidArgument | ErrorKind::Parse => {
            AppError::internal(error)
        }
        _ => AppError::unavailable("CacheDB", error),
    }
}

impl Cache {
    pub fn new(client: Client, prefix: &str) -> Self {
        let key = |name: &str| format!("{prefix}catalogue:{name}");
        let options = |timeout| Options {
            fail_fast: true,
            max_attempts: Some(1),
            timeout: Some(timeout),
            ..Options::default()
        };
        Self {
            reads: client.with_options(&options(READ_TIMEOUT)),
            writes: client.with_options(&options(WRITE_TIMEOUT)),
            client,
            keys: Arc::new(Keys {
                entries: key("entries"),
                slugs: key("slugs"),
                stamps: key("stamps"),
                floor: key("floor"),
                version: key("version"),
                built: key("built"),
            }),
            held: Arc::new(RwLock::new(None)),
            writes_seen: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A message per reconnection to CacheDB (which may have restarted empty).
    pub fn reconnections(&self) -> tokio::sync::broadcast::Receiver<fred::types::config::Server> {
        self.client.reconnect_rx()
    }

    /// False while the connection is down: callers skip CacheDB at once instead of waiting for
    /// a command to time out.
    pub fn is_connected(&self) -> bool {
        self.client.is_connected()
    }

    async fn eval(&self, script: &str, keys: &[&str], args: Vec<Value>) -> AppResult<i64> {
        if !self.is_connected() {
            return Err(not_connected());
        }
        // The source each time: the scripts are small, and this needs no SHA-1 feature.
        let keys: Vec<String> = keys.iter().map(|&key| key.to_owned()).collect();
        let outcome = self
            .writes
            .eval::<i64, _, _, _>(script, keys, args)
            .await
            .map_err(failed);
        // Whatever the outcome (a timed-out script may still have run), this process's next
        // read looks at CacheDB again, so its own writes show at once.
        self.forget_snapshot();
        outcome
    }

    fn forget_snapshot(&self) {
        self.writes_seen.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut held) = self.held.write() {
            *held = None;
        }
    }

    /// Writes `changes`, all read from OperationsDB at `read_at`; a launch CacheDB already holds
    /// a later read of is left alone. Answers how many entries differed from what CacheDB held.
    pub async fn apply(&self, read_at: DateTime<Utc>, changes: &[Change<'_>]) -> AppResult<u32> {
        let keys = &self.keys;
        let mut changed: i64 = 0;
        for chunk in changes.chunks(CHUNK) {
            let mut args: Vec<Value> = Vec::with_capacity(1 + 2 * chunk.len());
            args.push(micros(read_at).into());
            for (id, entry) in chunk {
                args.push(id.to_string().into());
                args.push(match entry {
                    Some(entry) => encode(entry)?.into(),
                    None => "".into(),
                });
            }
            changed += self
                .eval(
                    APPLY,
                    &[
                        &keys.entries,
                        &keys.slugs,
                        &keys.stamps,
                        &keys.floor,
                        &keys.version,
                    ],
                    args,
                )
                .await?;
        }
        Ok(u32::try_from(changed).unwrap_or(u32::MAX))
    }

    /// Completes a rebuild that read everything at `read_at` (see [`SWEEP`]); returns how many
    /// entries it removed.
    pub async fn sweep(&self, read_at: DateTime<Utc>) -> AppResult<u32> {
        let keys = &self.keys;
        let removed = self
            .eval(
                SWEEP,
                &[
                    &keys.entries,
                    &keys.slugs,
                    &keys.stamps,
                    &keys.floor,
                    &keys.version,
                    &keys.built,
                ],
                vec![micros(read_at).into(), Uuid::new_v4().to_string().into()],
            )
            .await?;
        Ok(u32::try_from(removed).unwrap_or(0))
    }

    /// Whether the catalogue was completely built since CacheDB last started empty.
    pub async fn is_built(&self) -> AppResult<bool> {
        if !self.is_connected() {
            return Err(not_connected());
        }
        let count: i64 = self.reads.exists(&self.keys.built).await.map_err(failed)?;
        Ok(count > 0)
    }

    /// Every entry, or `None` if the catalogue is not built.
    pub async fn entries(&self) -> AppResult<Option<Arc<Snapshot>>> {
        if !self.is_connected() {
            return Err(not_connected());
        }
        let held = self.held.read().ok().and_then(|held| {
            held.as_ref()
                .map(|held| (Arc::clone(&held.snapshot), held.checked_at))
        });
        if let Some((snapshot, checked_at)) = &held
            && checked_at.elapsed() < NEAR_CACHE_RECHECK
        {
            return Ok(Some(Arc::clone(snapshot)));
        }
        // The version is read before the entries: a write in between makes the snapshot newer
        // than its label, which only costs one more reload.
        let checked_at = Instant::now();
        let writes_before = self.writes_seen.load(Ordering::SeqCst);
        let mut marks: Vec<Option<String>> = self
            .reads
            .mget(vec![self.keys.built.as_str(), self.keys.version.as_str()])
            .await
            .map_err(failed)?;
        let version = marks.pop().flatten().unwrap_or_default();
        let Some(built) = marks.pop().flatten() else {
            self.forget_snapshot();
            return Ok(None);
        };
        let snapshot = match held {
            Some((current, _)) if current.built == built && current.version == version => current,
            _ => Arc::new(Snapshot::new(built, version, self.load_entries().await?)),
        };
        if let Ok(mut slot) = self.held.write()
            && self.writes_seen.load(Ordering::SeqCst) == writes_before
        {
            *slot = Some(Held {
                snapshot: Arc::clone(&snapshot),
                checked_at,
            });
        }
        Ok(Some(snapshot))
    }

    async fn load_entries(&self) -> AppResult<Vec<Entry>> {
        let stored: HashMap<String, String> = self
            .reads
            .hgetall(&self.keys.entries)
            .await
            .map_err(failed)?;
        let mut entries = Vec::with_capacity(stored.len());
        for (id, json) in &stored {
            match decode(json) {
                Ok(entry) => entries.push(entry),
                // One bad entry must not hide the others; the next rebuild rewrites it.
                Err(error) => {
                    tracing::warn!(launch_id = %id, error = %error, "unreadable catalogue entry");
                }
            }
        }
        Ok(entries)
    }

    /// One entry by id or slug, if the catalogue holds it (from the snapshot in memory).
    pub async fn entry(&self, key: &LaunchKey) -> AppResult<Option<Entry>> {
        Ok(self
            .entries()
            .await?
            .and_then(|snapshot| snapshot.find(key).cloned()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn entries_round_trip_through_their_stored_form() {
        let entry = Entry {
            id: Uuid::new_v4(),
            slug: "falcon-x-cape-canaveral-moon-2027-03-14".into(),
            agency_id: Uuid::new_v4(),
            agency_name: "Agency \"One\"".into(),
            rocket_name: "Falcon X".into(),
            range: "INTERPLANETARY".into(),
            spaceport: "Cape Canaveral".into(),
            destination: "Moon".into(),
            scheduled_at: Utc.with_ymd_and_hms(2027, 3, 14, 9, 30, 0).unwrap()
                + chrono::Duration::microseconds(123),
            price_minor: 25_000_000,
            currency: "USD".into(),
            status: "DELAYED".into(),
            capacity: 10,
            seats_available: 3,
            refreshed_at: Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap(),
        };
        let json = encode(&entry).unwrap();
        assert!(json.contains("\"slug\":\"falcon-x-cape-canaveral-moon-2027-03-14\""));
        assert_eq!(decode(&json).unwrap(), entry);
        assert!(decode("{}").is_err());
    }

    #[test]
    fn a_snapshot_finds_its_entries_by_id_and_by_slug_only() {
        let json = |id: Uuid, slug: &str| {
            format!(
                r#"{{"id":"{id}","slug":"{slug}","agency_id":"{id}","agency_name":"A","rocket_name":"R","range":"SUBORBITAL","spaceport":"S","destination":"D","scheduled_at_us":0,"price_minor":1,"currency":"USD","status":"SCHEDULED","capacity":1,"seats_available":1,"refreshed_at_us":0}}"#
            )
        };
        let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
        let entries = vec![
            decode(&json(first, "first")).unwrap(),
            decode(&json(second, "second")).unwrap(),
        ];
        let snapshot = Snapshot::new("built".into(), "1".into(), entries);
        let found = |key: LaunchKey| snapshot.find(&key).map(|entry| entry.id);
        assert_eq!(found(LaunchKey::Id(second)), Some(second));
        assert_eq!(found(LaunchKey::Slug("first".into())), Some(first));
        assert_eq!(found(LaunchKey::Id(Uuid::new_v4())), None);
        assert_eq!(found(LaunchKey::Slug("third".into())), None);
    }
}
