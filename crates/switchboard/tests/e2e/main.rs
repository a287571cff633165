//! End-to-end: the real `switchboard` binary, driven as a user would.
mod cli;
mod server;
mod support;
