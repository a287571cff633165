//! End-to-end: the real `switchboard` binary, driven as a user would.
mod audit;
mod chat;
mod cli;
mod clients;
mod crash;
mod data_dir;
mod encryption;
mod flow;
mod load;
mod load_instance;
mod policies;
mod server;
mod sessions;
mod simulate;
mod slow_clients;
mod streams;
mod support;
