//! Route handlers, one file per group of routes.

pub mod billing;
pub mod chat;
pub mod health;
pub mod keys;
mod management;
pub mod models;
pub mod preview;
