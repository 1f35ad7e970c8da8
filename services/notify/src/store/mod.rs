//! SystemDB access (MongoDB protocol) for NotifyAPI: the notification queue.

pub mod notifications;

pub use notifications::{NotificationDocument, NotificationStore};

pub use astro_shared::db::is_duplicate_key;
