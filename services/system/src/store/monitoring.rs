//! The `system_metrics` collection (one document per metric window, `_id` its
//! [`MetricPoint::key`], so a resent batch changes nothing and `_id` order is listing order) and
//! `instances` (one document per process instance, the last time it reported). Both expire by
//! TTL index: metrics after the retention, instances a day after they were last seen.

use std::{collections::BTreeMap, time::Duration};

use astro_shared::AppError;
use futures::TryStreamExt as _;
use mongodb::{
    Collection, IndexModel,
    bson::{DateTime, doc},
    error::ErrorKind,
    options::{FindOptions, IndexOptions, InsertManyOptions},
};
use serde::{Deserialize, Serialize};

use super::{bson_time, domain_time, logs::only_duplicates};
use crate::domain::monitoring::{Instance, MetricFilter, MetricPoint, Replica};

pub const METRICS: &str = "system_metrics";
pub const INSTANCES: &str = "instances";
const METRICS_TTL_INDEX: &str = "window_end_ttl";
/// An instance gone for a day is forgotten.
const INSTANCE_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MetricDocument {
    #[serde(rename = "_id")]
    id: String,
    service: String,
    name: String,
    value: f64,
    unit: String,
    labels: BTreeMap<String, String>,
    window_start: DateTime,
    window_end: DateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct InstanceDocument {
    #[serde(rename = "_id")]
    id: String,
    service: String,
    instance: String,
    version: String,
    started_at: Option<DateTime>,
    last_seen_at: DateTime,
}

#[derive(Clone)]
pub struct MetricStore {
    metrics: Collection<MetricDocument>,
    instances: Collection<InstanceDocument>,
}

impl MetricStore {
    pub fn new(database: &mongodb::Database) -> Self {
        Self {
            metrics: database.collection(METRICS),
            instances: database.collection(INSTANCES),
        }
    }

    /// The TTL indexes and one index per filter. A changed retention is applied in place.
    pub async fn ensure_indexes(&self, retention: Duration) -> Result<(), mongodb::error::Error> {
        let ttl = IndexModel::builder()
            .keys(doc! { "window_end": 1 })
            .options(
                IndexOptions::builder()
                    .name(METRICS_TTL_INDEX.to_owned())
                    .expire_after(retention)
                    .build(),
            )
            .build();
        if let Err(error) = self.metrics.create_index(ttl).await {
            let conflict = matches!(&*error.kind, ErrorKind::Command(command) if command.code == 85 || command.code == 86);
            if !conflict {
                return Err(error);
            }
            let seconds = i64::try_from(retention.as_secs()).unwrap_or(i64::MAX);
            self.metrics
                .client()
                .database(self.metrics.namespace().db.as_str())
                .run_command(doc! {
                    "collMod": METRICS,
                    "index": { "name": METRICS_TTL_INDEX, "expireAfterSeconds": seconds },
                })
                .await?;
        }
        for keys in [
            doc! { "service": 1, "_id": 1 },
            doc! { "labels.method": 1, "_id": 1 },
        ] {
            self.metrics
                .create_index(IndexModel::builder().keys(keys).build())
                .await?;
        }
        self.instances
            .create_index(
                IndexModel::builder()
                    .keys(doc! { "last_seen_at": 1 })
                    .options(
                        IndexOptions::builder()
                            .expire_after(INSTANCE_RETENTION)
                            .build(),
                    )
                    .build(),
            )
            .await?;
        Ok(())
    }

    /// Stores the points; ones already stored (a resent batch) are left as they are. Returns
    /// how many were sent, stored now or before.
    pub async fn record(&self, points: &[MetricPoint]) -> Result<usize, AppError> {
        if points.is_empty() {
            return Ok(0);
        }
        let documents: Vec<MetricDocument> = points
            .iter()
            .map(|point| MetricDocument {
                id: point.key(),
                service: point.service.clone(),
                name: point.name.clone(),
                value: point.value,
                unit: point.unit.clone(),
                labels: point.labels.clone(),
                window_start: bson_time(point.window_start),
                window_end: bson_time(point.window_end),
            })
            .collect();
        // Unordered: one duplicate does not stop the others.
        let options = InsertManyOptions::builder().ordered(false).build();
        match self
            .metrics
            .insert_many(documents)
            .with_options(options)
            .await
        {
            Ok(_) => Ok(points.len()),
            Err(error) if only_duplicates(&error) => Ok(points.len()),
            Err(error) => Err(error.into()),
        }
    }

    /// Records that `instance` reported at `now`.
    pub async fn seen(
        &self,
        instance: &Instance,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        let id = format!("{}/{}", instance.service, instance.instance);
        self.instances
            .update_one(
                doc! { "_id": &id },
                doc! { "$set": {
                    "service": &instance.service,
                    "instance": &instance.instance,
                    "version": &instance.version,
                    "started_at": instance.started_at.map(bson_time),
                    "last_seen_at": bson_time(now),
                } },
            )
            .upsert(true)
            .await?;
        Ok(())
    }

    /// Every instance that reported since `since`.
    pub async fn replicas(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Replica>, AppError> {
        self.instances
            .find(doc! { "last_seen_at": { "$gte": bson_time(since) } })
            .sort(doc! { "_id": 1 })
            .await?
            .map_err(AppError::from)
            .map_ok(|document| Replica {
                instance: Instance {
                    service: document.service,
                    instance: document.instance,
                    version: document.version,
                    started_at: document.started_at.map(domain_time),
                },
                last_seen_at: domain_time(document.last_seen_at),
            })
            .try_collect()
            .await
    }

    /// Up to `limit` points of `filter` after the key `after`, in key order.
    pub async fn page(
        &self,
        filter: &MetricFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MetricPoint>, AppError> {
        let mut query = doc! {
            "window_start": { "$gte": bson_time(filter.start), "$lt": bson_time(filter.end) },
        };
        if let Some(service) = &filter.service {
            query.insert("service", service);
        }
        if let Some(name) = &filter.name {
            query.insert("name", name);
        }
        if let Some(method) = &filter.method {
            query.insert("labels.method", method);
        }
        if let Some(after) = after {
            query.insert("_id", doc! { "$gt": after });
        }
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(limit)
            .build();
        self.metrics
            .find(query)
            .with_options(options)
            .await?
            .map_err(AppError::from)
            .map_ok(|document| MetricPoint {
                service: document.service,
                name: document.name,
                value: document.value,
                unit: document.unit,
                labels: document.labels,
                window_start: domain_time(document.window_start),
                window_end: domain_time(document.window_end),
            })
            .try_collect()
            .await
    }
}
