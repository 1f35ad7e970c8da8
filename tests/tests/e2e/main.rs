//! End-to-end tests against real processes of the mesh and the real local servers that
//! `./dev test` starts. One test binary with a module per area, not one binary per file: each
//! binary links the whole mesh's dependencies (~55 MB), and sixteen of them took ~0.9 GB of
//! disk and fifteen extra link steps per build. nextest still runs every test in a process of
//! its own. Run one area with `cargo test -p astro-e2e --test e2e notify::`.

mod activity_logs;
mod agency;
mod agency_registration;
mod booking;
mod catalogue;
mod configuration;
mod finance_checkout;
mod finance_credit_notes;
mod finance_invoices;
mod finance_payments;
mod finance_reminders;
mod finance_reports;
mod gateway_grpc_web;
mod gateway_rate_limit;
mod gateway_rest;
mod gateway_schemathesis;
mod gateway_streaming;
mod internal_auth;
mod lifecycle;
mod mail_catcher;
mod mesh;
mod monitoring;
mod notify;
mod paging;
mod profile_mirror;
mod profile_outbox;
mod security;
mod sync_jobs;
mod system_auth;
mod system_internal;
mod trace_context;
mod web_apps;
mod web_operations;
