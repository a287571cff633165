pub(crate) mod config;
pub(crate) mod contacts;
pub(crate) mod historical;
pub(crate) mod metrics;
pub(crate) mod ops;
pub(crate) mod query;
pub(crate) mod stream_tail;
pub(crate) mod streams;
