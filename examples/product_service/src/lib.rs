//! The product service's parts, shared by its binary (`src/main.rs`) and its HTTP test
//! (`tests/http.rs`): the SQLite store, the cached catalogue, the routes, and the assembly of one
//! instance.

pub mod app;
pub mod catalog;
pub mod db;
pub mod http;
