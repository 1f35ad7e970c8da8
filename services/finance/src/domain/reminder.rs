//! When an unpaid invoice is reminded: the day after its due date it is OVERDUE and the agency
//! gets the overdue notice (automatic step 1); further reminders follow 7 and 14 days after the
//! due date (steps 2 and 3), then no more. A job that was stopped sends only the latest step
//! due, never a burst of the ones it missed. FINANCE may also send one by hand, at any time
//! while the invoice is OVERDUE; those do not move the schedule.

use chrono::NaiveDate;

/// Days after the due date on which each automatic step is due.
pub const REMINDER_DAYS: [i64; 3] = [1, 7, 14];

/// The last automatic step due on `today` for an invoice due on `due_date` (0: none).
pub fn step_due(due_date: NaiveDate, today: NaiveDate) -> i16 {
    let late = (today - due_date).num_days();
    let due = REMINDER_DAYS.iter().filter(|days| late >= **days).count();
    i16::try_from(due).unwrap_or(i16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_fall_on_days_1_7_and_14_after_the_due_date() {
        let due = NaiveDate::from_ymd_opt(2026, 1, 31).expect("date");
        let on = |days: i64| step_due(due, due + chrono::Duration::days(days));
        assert_eq!(on(-3), 0);
        assert_eq!(on(0), 0, "not overdue on its due date");
        assert_eq!(on(1), 1);
        assert_eq!(on(6), 1);
        assert_eq!(on(7), 2);
        assert_eq!(on(13), 2);
        assert_eq!(on(14), 3);
        assert_eq!(on(400), 3, "never more than three");
    }
}
