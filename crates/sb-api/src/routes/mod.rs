pub(crate) mod config;
pub(crate) mod ops;
