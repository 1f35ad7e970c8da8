//! SystemDB access (MongoDB protocol) for NotifyAPI: the notification queue.

pub mod notifications;

pub use notifications::{NotificationDocument, NotificationStore};

/// Whether a write failed on a unique index (E11000).
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    let by_code = match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == 11000,
        ErrorKind::Command(command) => command.code == 11000,
        _ => false,
    };
    by_code || error.to_string().contains("E11000")
}
