//! The runtime against real parts: the SQLite store and event log, an HTTPS function
//! server.
mod audit;
mod contacts;
mod deploy;
mod durability;
mod function_server;
mod functions;
mod harness;
mod restarts;
mod retention;
mod supervisor;
