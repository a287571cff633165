//! The runtime against real parts: the SQLite store, an HTTPS function server.
mod audit;
mod deploy;
mod function_server;
mod functions;
mod retention;
