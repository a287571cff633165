//! Identity and authorization primitives: the action every endpoint declares, who is
//! calling, API-key credentials, and what each built-in role may do.
//!
//! Architecture invariant: no I/O and no HTTP. The API crate turns a request into a
//! [`Principal`] and an [`Action`], and asks [`authorize`].

mod action;
mod api_key;
pub mod envelope;
pub mod password;
pub mod policy;
mod roles;
pub mod signing;
pub mod token;
pub mod totp;

pub use action::Action;
pub use api_key::{
    issue_secret, random_id, secret_matches, time_ordered_id, ApiKey, ApiKeyError, IssuedApiKey,
};
pub use roles::{authorize, Denied, Principal, Role, RoleGrant, Session};
