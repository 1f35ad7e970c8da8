//! The other services SystemAPI calls, as adapters for the use cases: each turns domain values
//! into that service's contract and its answers into `AppError`.

pub mod notify;
pub mod status;
pub mod sync;
