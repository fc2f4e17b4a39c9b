//! The screens of the workbench, one module each. A screen keeps its own state, draws from a
//! [`crate::screen::Frame`] and sends [`crate::screen::Command`]s; it never sees the app or
//! another screen.

pub mod data;
pub mod deploy;
pub mod evaluate;
pub mod models;
pub mod monitor;
pub mod runs;
pub mod start;
pub mod sync;
pub mod train;
