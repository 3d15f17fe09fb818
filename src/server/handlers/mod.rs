//! Route handlers, one file per group of routes.

pub mod chat;
pub mod health;
pub mod models;
