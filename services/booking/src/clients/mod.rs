//! The other services BookingAPI calls, as adapters with plain inputs and answers: FinanceAPI
//! (all money); SystemAPI's accounts are `astro_shared::accounts`. Their errors come back typed, as the errors the callee
//! answered (`AppError::from`); the use cases re-map what they expect and pass the rest to
//! `AppError::upstream`.

pub mod finance;
