//! The bookings report's lines, read from the `bookings_report_lines` view that BookingAPI's
//! migration defines over its booking tables (empty until then).

use astro_shared::AppError;
use uuid::Uuid;

use super::Store;
use crate::domain::report::ReportLine;

#[derive(Debug, sqlx::FromRow)]
struct LineRow {
    booking_id: Option<Uuid>,
    traveler_id: Option<Uuid>,
    traveler_name: Option<String>,
    booking_status: Option<String>,
    seats: Option<i32>,
    seats_kept: Option<i32>,
    passenger_names: Option<Vec<String>>,
    amount_minor: Option<i64>,
    refunded_minor: Option<i64>,
}

impl Store {
    /// The paid bookings of a launch in booking order.
    pub async fn report_lines(&self, launch_id: Uuid) -> Result<Vec<ReportLine>, AppError> {
        let rows = sqlx::query_as::<_, LineRow>(
            "SELECT booking_id, traveler_id, traveler_name, booking_status, seats, seats_kept, \
             passenger_names, amount_minor, refunded_minor FROM bookings_report_lines \
             WHERE launch_id = $1 ORDER BY booked_at, booking_id",
        )
        .bind(launch_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| ReportLine {
                booking_id: row.booking_id.map(|id| id.to_string()).unwrap_or_default(),
                traveler_id: row.traveler_id.map(|id| id.to_string()).unwrap_or_default(),
                traveler_name: row.traveler_name.unwrap_or_default(),
                booking_status: row.booking_status.unwrap_or_default(),
                seats: row.seats.unwrap_or_default(),
                seats_kept: row.seats_kept.unwrap_or_default(),
                passenger_names: row.passenger_names.unwrap_or_default(),
                amount_minor: row.amount_minor.unwrap_or_default(),
                refunded_minor: row.refunded_minor.unwrap_or_default(),
            })
            .collect())
    }
}
