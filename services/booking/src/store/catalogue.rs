//! OperationsDB, the catalogue's source of truth: launches with their rocket and agency.
//!
//! Every read also returns the moment its snapshot was taken (PostgreSQL's clock, the same for
//! every replica): CacheDB keeps it per entry and refuses a write read earlier than what it
//! holds, so a slow refresh can never overwrite a newer one.

use astro_shared::AppResult;
use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::domain::catalogue::{Entry, LaunchKey};

const SELECT: &str = "SELECT l.id, l.slug, l.agency_id, a.name AS agency_name, \
     r.name AS rocket_name, r.rocket_range, l.spaceport, l.destination, l.scheduled_at, \
     l.price_minor, l.currency, l.status, l.capacity, \
     l.capacity - l.seats_booked AS seats_available \
     FROM launches l JOIN agencies a ON a.id = l.agency_id JOIN rockets r ON r.id = l.rocket_id";

/// The catalogue's rule in SQL, for reads that only want bookable launches; the rows still go
/// through [`Entry::bookable_at`], which decides.
const BOOKABLE: &str = "l.status IN ('SCHEDULED', 'DELAYED') AND l.scheduled_at > now() \
     AND l.seats_booked < l.capacity";

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: Uuid,
    slug: String,
    agency_id: Uuid,
    agency_name: String,
    rocket_name: String,
    rocket_range: String,
    spaceport: String,
    destination: String,
    scheduled_at: DateTime<Utc>,
    price_minor: i64,
    currency: String,
    status: String,
    capacity: i32,
    seats_available: i32,
}

impl Row {
    fn entry(self, read_at: DateTime<Utc>) -> Entry {
        Entry {
            id: self.id,
            slug: self.slug,
            agency_id: self.agency_id,
            agency_name: self.agency_name,
            rocket_name: self.rocket_name,
            range: self.rocket_range,
            spaceport: self.spaceport,
            destination: self.destination,
            scheduled_at: self.scheduled_at,
            price_minor: self.price_minor,
            currency: self.currency,
            status: self.status,
            capacity: self.capacity,
            seats_available: self.seats_available,
            refreshed_at: read_at,
        }
    }
}

/// Entries read in one snapshot, and when it was taken.
#[derive(Debug)]
pub struct Read {
    pub at: DateTime<Utc>,
    pub entries: Vec<Entry>,
}

#[derive(Clone)]
pub struct Source {
    pool: PgPool,
}

impl Source {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A read-only REPEATABLE READ transaction and the time of its snapshot. The snapshot is
    /// taken by the first statement, after its `statement_timestamp()`: the time is never
    /// later than the snapshot, so a later-stamped read has seen at least as much.
    async fn snapshot(&self) -> AppResult<(Transaction<'static, Postgres>, DateTime<Utc>)> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *transaction)
            .await?;
        let at: DateTime<Utc> = sqlx::query_scalar("SELECT statement_timestamp()")
            .fetch_one(&mut *transaction)
            .await?;
        Ok((transaction, at))
    }

    /// The launches among `ids` that exist, bookable or not.
    pub async fn launches(&self, ids: &[Uuid]) -> AppResult<Read> {
        let (mut transaction, at) = self.snapshot().await?;
        let rows = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE l.id = ANY($1)"))
            .bind(ids)
            .fetch_all(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Read {
            at,
            entries: rows.into_iter().map(|row| row.entry(at)).collect(),
        })
    }

    /// Every bookable launch.
    pub async fn bookable(&self) -> AppResult<Read> {
        let (mut transaction, at) = self.snapshot().await?;
        let rows = sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE {BOOKABLE}"))
            .fetch_all(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(Read {
            at,
            entries: rows.into_iter().map(|row| row.entry(at)).collect(),
        })
    }

    /// One launch by id or slug, bookable or not.
    pub async fn launch(&self, key: &LaunchKey) -> AppResult<Option<Entry>> {
        let row = match key {
            LaunchKey::Id(id) => {
                sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE l.id = $1"))
                    .bind(*id)
                    .fetch_optional(&self.pool)
                    .await?
            }
            LaunchKey::Slug(slug) => {
                sqlx::query_as::<_, Row>(&format!("{SELECT} WHERE l.slug = $1"))
                    .bind(slug.as_str())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(row.map(|row| row.entry(Utc::now())))
    }

    /// One batch of a sync job: up to `limit` launches after `after` in id order, with the
    /// number of launches in total when `count` is asked.
    pub async fn batch(
        &self,
        after: Option<Uuid>,
        limit: i64,
        count: bool,
    ) -> AppResult<(Read, Option<i64>)> {
        let (mut transaction, at) = self.snapshot().await?;
        let total = if count {
            Some(
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM launches")
                    .fetch_one(&mut *transaction)
                    .await?,
            )
        } else {
            None
        };
        let rows = sqlx::query_as::<_, Row>(&format!(
            "{SELECT} WHERE ($1::uuid IS NULL OR l.id > $1) ORDER BY l.id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok((
            Read {
                at,
                entries: rows.into_iter().map(|row| row.entry(at)).collect(),
            },
            total,
        ))
    }

    /// The open launches of a rocket or of an agency, whose entries show its name or range.
    pub async fn open_launches_of(
        &self,
        rocket: Option<Uuid>,
        agency: Option<Uuid>,
    ) -> AppResult<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM launches WHERE status IN ('SCHEDULED', 'DELAYED') \
             AND ($1::uuid IS NULL OR rocket_id = $1) AND ($2::uuid IS NULL OR agency_id = $2) \
             AND ($1::uuid IS NOT NULL OR $2::uuid IS NOT NULL)",
        )
        .bind(rocket)
        .bind(agency)
        .fetch_all(&self.pool)
        .await?)
    }
}
