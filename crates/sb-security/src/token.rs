//! Short-lived signed credentials, exchanged for an API key (or another token) like AWS
//! STS: `sbt_<claims>.<mac>`, the claims base64url JSON and the MAC HMAC-SHA256 under
//! an instance key (ring). A token can assume a role no wider than its caller's and
//! carry a session policy, a list of actions that can only narrow what the role allows.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::{Action, Principal, RoleGrant};

pub const TOKEN_PREFIX: &str = "sbt_";
/// Connect's and STS's bounds: 15 minutes to 12 hours; one hour by default.
pub const MIN_SECONDS: i64 = 15 * 60;
pub const MAX_SECONDS: i64 = 12 * 60 * 60;
pub const DEFAULT_SECONDS: i64 = 60 * 60;

/// What a token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The API credential it was exchanged for (revoking that revokes this).
    pub credential: String,
    pub user: String,
    pub role: String,
    /// The session policy: when present, only these actions (each also allowed by the
    /// role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<String>>,
    /// Unix seconds.
    pub issued_at: i64,
    pub expires_at: i64,
    /// Unique per token, for revoking one.
    pub id: String,
    /// The role of the credential the token was exchanged from, when it assumed
    /// another: requests must be allowed by both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assumed_from: Option<String>,
    /// The holder signed in with a second factor.
    #[serde(default)]
    pub mfa: bool,
    /// The signed-in user's session epoch when the session began: a token of an
    /// earlier epoch is refused (a new password or "sign out everywhere" raised it).
    #[serde(default)]
    pub epoch: u64,
    /// Unix seconds: when the session began (the sign-in or the API key's first
    /// exchange), the same in every token exchanged from it.
    #[serde(default)]
    pub authenticated_at: i64,
}

impl Claims {
    /// The session these claims carry to the tokens exchanged from them.
    pub fn session(&self) -> crate::Session {
        crate::Session {
            expires_at: self.expires_at,
            authenticated_at: if self.authenticated_at == 0 {
                self.issued_at
            } else {
                self.authenticated_at
            },
            epoch: self.epoch,
        }
    }

    /// The role the holder had when the session began, before any role it assumed.
    pub fn base_role(&self) -> &str {
        self.assumed_from.as_deref().unwrap_or(&self.role)
    }
}

/// When a token that `caller` exchanges at `now` for `seconds` ends: never after the
/// caller's own token, as STS caps a chained role's session, so a sign-in of an hour
/// cannot renew itself into tokens of twelve.
pub fn exchanged_expiry(caller: &Principal, now: i64, seconds: i64) -> i64 {
    let asked = now + seconds;
    caller
        .session
        .map_or(asked, |session| asked.min(session.expires_at))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a session token")]
    Malformed,
    #[error("the token's signature does not match (altered or not ours)")]
    BadSignature,
    #[error("the token expired")]
    Expired,
    #[error("{0}")]
    Refused(String),
}

/// The instance's token key.
pub struct TokenKey {
    key: hmac::Key,
}

impl TokenKey {
    /// 32 fresh random bytes for a new key, to keep.
    pub fn generate_secret() -> Result<Vec<u8>, crate::signing::SigningError> {
        use ring::rand::SecureRandom;
        let mut secret = vec![0u8; 32];
        ring::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| crate::signing::SigningError::Random)?;
        Ok(secret)
    }

    /// From 32 or more secret bytes.
    pub fn new(secret: &[u8]) -> Self {
        TokenKey {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn issue(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialise"));
        let mac = hmac::sign(&self.key, body.as_bytes());
        format!(
            "{TOKEN_PREFIX}{body}.{}",
            URL_SAFE_NO_PAD.encode(mac.as_ref())
        )
    }

    /// The claims of a token this key signed and that has not expired at `now` (Unix
    /// seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        let rest = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(TokenError::Malformed)?;
        let (body, mac) = rest.split_once('.').ok_or(TokenError::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &mac).map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Check an exchange: the role asked for (default: the caller's) may allow nothing the
/// caller may not, and a session policy may name only actions both allow. (Requests
/// with the token are then checked against both roles' policies, conditions included.)
pub fn narrow(
    caller: &Principal,
    role: Option<RoleGrant>,
    actions: Option<&[String]>,
) -> Result<(RoleGrant, Option<Vec<Action>>), TokenError> {
    let role = role.unwrap_or_else(|| caller.role.clone());
    if actions.is_none() {
        if let Some(wider) = Action::ALL
            .into_iter()
            .find(|&a| role.policy.may_ever(a) && !caller.may_ever(a))
        {
            return Err(TokenError::Refused(format!(
                "role {} allows {wider}, which the caller may not do: a token can only narrow",
                role.name
            )));
        }
    }
    let actions = match actions {
        None => None,
        Some(names) => {
            let mut parsed = Vec::new();
            for name in names {
                let action = Action::parse(name)
                    .ok_or_else(|| TokenError::Refused(format!("no action named '{name}'")))?;
                if !role.policy.may_ever(action) || !caller.may_ever(action) {
                    return Err(TokenError::Refused(format!(
                        "the session policy names {name}, which the role {} or the caller may not do: a session policy can only narrow",
                        role.name
                    )));
                }
                parsed.push(action);
            }
            Some(parsed)
        }
    };
    Ok((role, actions))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    #[test]
    fn an_exchange_never_outlives_the_token_it_came_from() {
        let mut caller = principal(Role::Analyst, None);
        assert_eq!(exchanged_expiry(&caller, 1_000, 3_600), 4_600, "an API key");
        caller.session = Some(crate::Session {
            expires_at: 2_000,
            authenticated_at: 500,
            epoch: 3,
        });
        assert_eq!(exchanged_expiry(&caller, 1_000, 43_200), 2_000);
        assert_eq!(exchanged_expiry(&caller, 1_000, 900), 1_900);
    }

    fn claims(expires_at: i64) -> Claims {
        Claims {
            credential: "Kabc".into(),
            user: "frank".into(),
            role: "Analyst".into(),
            actions: None,
            issued_at: 0,
            expires_at,
            id: "t1".into(),
            assumed_from: None,
            mfa: false,
            epoch: 0,
            authenticated_at: 0,
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_unaltered() {
        let key = TokenKey::new(&[7; 32]);
        let token = key.issue(&claims(1_000));
        assert_eq!(key.verify(&token, 999).unwrap().user, "frank");
        assert_eq!(key.verify(&token, 1_000), Err(TokenError::Expired));
        // Altered claims (a wider role) no longer match the signature.
        let (body, mac) = token
            .strip_prefix(TOKEN_PREFIX)
            .unwrap()
            .split_once('.')
            .unwrap();
        let mut forged: Claims =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap();
        forged.role = "Admin".into();
        let forged = format!(
            "{TOKEN_PREFIX}{}.{mac}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap())
        );
        assert_eq!(key.verify(&forged, 0), Err(TokenError::BadSignature));
        assert_eq!(
            TokenKey::new(&[8; 32]).verify(&token, 0),
            Err(TokenError::BadSignature)
        );
        assert_eq!(key.verify("sb_Kx.y", 0), Err(TokenError::Malformed));
        assert_eq!(key.verify("sbt_nodot", 0), Err(TokenError::Malformed));
    }

    fn principal(role: Role, session: Option<Vec<Action>>) -> Principal {
        Principal {
            id: "K1".into(),
            user: "u".into(),
            name: "u".into(),
            role: RoleGrant::built_in(role),
            assumed_from: None,
            session_actions: session,
            mfa_present: false,
            session: None,
        }
    }

    #[test]
    fn exchanges_only_narrow() {
        let analyst = || Some(RoleGrant::built_in(Role::Analyst));
        // An admin may take an analyst's role, or narrow further.
        let (role, actions) = narrow(&principal(Role::Admin, None), analyst(), None).unwrap();
        assert_eq!((role.name.as_str(), actions), ("Analyst", None));
        let (_, actions) = narrow(
            &principal(Role::Analyst, None),
            None,
            Some(&["contact:Read".to_string()]),
        )
        .unwrap();
        assert_eq!(actions, Some(vec![Action::ContactRead]));
        // An analyst may not become an admin, nor name an action its role lacks.
        assert!(matches!(
            narrow(
                &principal(Role::Analyst, None),
                Some(RoleGrant::built_in(Role::Admin)),
                None
            ),
            Err(TokenError::Refused(_))
        ));
        let widen = narrow(
            &principal(Role::Analyst, None),
            None,
            Some(&["config:Apply".to_string()]),
        );
        assert!(matches!(widen, Err(TokenError::Refused(m)) if m.contains("only narrow")));
        // A token already narrowed cannot be widened again by exchanging it.
        let again = narrow(
            &principal(Role::Analyst, Some(vec![Action::ContactRead])),
            None,
            Some(&["query:Run".to_string()]),
        );
        assert!(again.is_err());
    }
}
